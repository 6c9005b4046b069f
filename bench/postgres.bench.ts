/**
 * PostgresEventLog beside the raw pg operations it wraps (DGENT_POSTGRES_URL, default the local
 * service; BENCH_REPEAT runs per case):
 * - sequential single-event append vs a raw single-row INSERT (target >= 0.7x), twice: into a
 *   minimal 5-column table (stream, type, data, time, bigserial position), and of the same row the
 *   log stores (its columns and unique keys: position, (stream, revision), id) with the revision
 *   and a UUID v7 id supplied by the client, i.e. what a hand-written store with optimistic
 *   concurrency on the unique key does; beside them, informational, the log's own one-event
 *   statement sent by raw pg (the server's share of the gap)
 * - 16 concurrent appenders vs 16 concurrent raw INSERTs over a pool of the same size (target >= 1x)
 * - 8 logs with pools of their own (as 8 processes), each appending sequentially, vs 8 connections
 *   inserting the same rows (no target: shows what one process's group commit cannot cover)
 * - 16 concurrent appenders vs Emmett's PostgreSQL event store (target >= 2x; skipped with a note
 *   when @event-driven-io/emmett-postgresql is not installed)
 * - readAll of 10 000 events vs a raw SELECT of the same rows + codec decode (target >= 0.7x)
 * Subject and baseline run in alternating short rounds (see paired.ts), 3 x BENCH_REPEAT each,
 * after BENCH_WARMUP (default 10) uncounted alternating rounds.
 * Every case works in its own schema, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { uuidV7 } from '../src/core/uuid-v7.js';
import { decode, encode } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { appendExactSql } from '../src/streams/postgres/append-function.js';
import { schemaNames } from '../src/streams/postgres/schema.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';

const URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const POOL = 10;
const data = (i: number): unknown => ({ kind: 'ToolCalled', tool: 'search', args: { q: `query ${i}`, k: 5 }, at: 1_700_000_000_000 + i });

async function emmettAppender(schemaUrl: string): Promise<((stream: string, i: number) => Promise<void>) | undefined> {
  try {
    const mod = (await import('@event-driven-io/emmett-postgresql' as string)) as {
      getPostgreSQLEventStore(url: string, options?: unknown): { appendToStream(s: string, e: unknown[]): Promise<unknown>; close(): Promise<void> };
    };
    const store = mod.getPostgreSQLEventStore(schemaUrl);
    return async (stream, i) => {
      await store.appendToStream(stream, [{ type: 'ToolCalled', data: data(i) }]);
    };
  } catch (e) {
    console.log(`\n(Emmett PostgreSQL comparison skipped: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/** A typical agent state: a short conversation and some bookkeeping (~2 KB encoded), as in bench/redis. */
function sampleState(step: number): { turns: { role: string; text: string; at: number }[]; tools: string[]; step: number } {
  return {
    turns: Array.from({ length: 16 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: `message ${i} `.repeat(8), at: 1_700_000_000_000 + i })),
    tools: ['search', 'calculator', 'browser'],
    step,
  };
}

/** LangGraph's PostgreSQL checkpointer, when installed: save = put of a checkpoint holding the state, load = getTuple. */
async function langGraphSaver(schema: string): Promise<{ save(state: unknown, k: number): Promise<void>; load(): Promise<unknown>; end(): Promise<void> } | undefined> {
  try {
    const { PostgresSaver } = (await import('@langchain/langgraph-checkpoint-postgres' as string)) as typeof import('@langchain/langgraph-checkpoint-postgres');
    const { emptyCheckpoint, uuid6 } = (await import('@langchain/langgraph-checkpoint' as string)) as typeof import('@langchain/langgraph-checkpoint');
    const saver = PostgresSaver.fromConnString(URL, { schema });
    await saver.setup();
    const config = { configurable: { thread_id: 'bench', checkpoint_ns: '' } };
    return {
      async save(state, k) {
        const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), ts: new Date().toISOString(), channel_values: { state }, channel_versions: { state: k } };
        await saver.put(config, checkpoint, { source: 'update', step: k, parents: {} }, { state: k });
      },
      async load() {
        const t = await saver.getTuple(config);
        return t?.checkpoint.channel_values.state;
      },
      end: () => saver.end(),
    };
  } catch (e) {
    console.log(`\n(LangGraph PostgresSaver comparison skipped: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/**
 * SQLAgent on PostgreSQL beside raw pg sending the statements it sends (unnamed, as Kysely sends
 * them, and prepared: the best raw pg can do) and beside LangGraph's PostgresSaver.
 */
async function sqlAgentCases(admin: pg.Pool, tag: string, schemas: string[], cases: CaseResult[], comparisons: Comparison[]): Promise<void> {
  const table = `bench_sqlagent_${tag}`;
  const rawTable = `bench_sqlraw_${tag}`;
  const agent = new SQLAgent<ReturnType<typeof sampleState>>({ connectionString: URL, table, id: 'bench', maxConnections: POOL });
  const shape = new SQLAgent({ connectionString: URL, table: rawTable, id: 'shape' }); // creates the raw side's table, same DDL
  await shape.save(0);
  await shape.close();
  const raw = new pg.Pool({ connectionString: URL, max: POOL });
  const lgSchema = `bench_lg_${tag}`;
  schemas.push(lgSchema);
  const lg = await langGraphSaver(lgSchema);
  // the statements SQLAgent sends (see src/agents/sql/statements.ts), as Kysely spells them
  const insertSql = `insert into "${rawTable}" (agent_id, version, state, time, schema_version)
    select cast($1 as text), m.v + 1, cast($2 as text), cast($3 as bigint), cast($4 as integer)
    from (select coalesce(max(version), 0) as v from "${rawTable}" where agent_id = $5) m
    returning version`;
  const selectSql = `select "version", "state", "time", "schema_version" from "${rawTable}" where "agent_id" = $1 order by "version" desc limit $2`;
  const N = 100;
  let k = 0;
  try {
    const saveCases: [string, number, () => Promise<void>][] = [
      ['SQLAgent.save (PostgreSQL, new state each call)', N, async () => { for (let i = 0; i < N; i++) await agent.save(sampleState(k++)); }],
      ['raw pg: the same INSERT ... SELECT, unnamed (as Kysely sends it)', N, async () => { for (let i = 0; i < N; i++) await raw.query(insertSql, ['raw', encode(sampleState(k++)), Date.now(), 1, 'raw']); }],
      ['raw pg: the same INSERT ... SELECT, prepared', N, async () => { for (let i = 0; i < N; i++) await raw.query({ name: 'sqlagent_insert', text: insertSql, values: ['prep', encode(sampleState(k++)), Date.now(), 1, 'prep'] }); }],
    ];
    if (lg) saveCases.push(['LangGraph PostgresSaver.put (a checkpoint holding the state)', N, async () => { for (let i = 0; i < N; i++) await lg.save(sampleState(k), k++); }]);
    const saves = await paired(saveCases);
    const loadCases: [string, number, () => Promise<void>][] = [
      ['SQLAgent.load (PostgreSQL)', N, async () => { for (let i = 0; i < N; i++) await agent.load(); }],
      ['raw pg: the same SELECT, unnamed, + decode', N, async () => { for (let i = 0; i < N; i++) decode((await raw.query(selectSql, ['raw', 1])).rows[0].state); }],
      ['raw pg: the same SELECT, prepared, + decode', N, async () => { for (let i = 0; i < N; i++) decode((await raw.query({ name: 'sqlagent_select', text: selectSql, values: ['prep', 1] })).rows[0].state); }],
    ];
    if (lg) loadCases.push(['LangGraph PostgresSaver.getTuple (the newest checkpoint)', N, async () => { for (let i = 0; i < N; i++) await lg.load(); }]);
    const loads = await paired(loadCases);
    cases.push(...saves, ...loads);
    const [save, saveSame, savePrep, saveLg] = saves;
    const [load, loadSame, loadPrep, loadLg] = loads;
    comparisons.push(
      { label: 'SQLAgent save vs raw pg sending the same statement (unnamed)', subject: save!, baseline: saveSame! },
      { label: 'SQLAgent save vs raw pg, the same statement prepared', subject: save!, baseline: savePrep! },
      { label: 'SQLAgent load vs raw pg, the same SELECT (unnamed) + decode', subject: load!, baseline: loadSame! },
      { label: 'SQLAgent load vs raw pg, the same SELECT prepared + decode', subject: load!, baseline: loadPrep! },
    );
    if (saveLg && loadLg) {
      comparisons.push(
        { label: 'SQLAgent save vs LangGraph PostgresSaver.put', subject: save!, baseline: saveLg },
        { label: 'SQLAgent load vs LangGraph PostgresSaver.getTuple', subject: load!, baseline: loadLg },
      );
    }
  } finally {
    await agent.close();
    await lg?.end();
    await raw.end();
    await admin.query(`DROP TABLE IF EXISTS "${table}", "${rawTable}"`);
  }
}

export async function main(): Promise<void> {
  const tag = randomBytes(3).toString('hex');
  const schemas = [`bench_pg_${tag}`, `bench_raw_${tag}`];
  const admin = new pg.Pool({ connectionString: URL, max: POOL });
  // every case has a pool (so server sessions) of its own, as the log has: a session shared by two
  // of the alternating cases runs twice as often as the log's and stays warmer
  const rawPool = new pg.Pool({ connectionString: URL, max: POOL });
  const samePool = new pg.Pool({ connectionString: URL, max: POOL });
  const stmtPool = new pg.Pool({ connectionString: URL, max: POOL });
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const log = new PostgresEventLog({ connectionString: URL, schema: schemas[0], maxConnections: POOL });
  try {
    await admin.query(`CREATE SCHEMA "${schemas[1]}"`);
    await admin.query(`CREATE TABLE "${schemas[1]}".events (position bigserial PRIMARY KEY, stream text NOT NULL, type text NOT NULL, data json NOT NULL, time timestamptz NOT NULL DEFAULT now())`);
    const raw = `INSERT INTO "${schemas[1]}".events (stream, type, data) VALUES ($1, $2, $3)`;
    await admin.query(`CREATE TABLE "${schemas[1]}".events_same (position bigserial PRIMARY KEY, stream text NOT NULL, revision integer NOT NULL, id text NOT NULL UNIQUE, type text NOT NULL, data json NOT NULL, metadata json NOT NULL, time timestamptz NOT NULL DEFAULT now(), UNIQUE (stream, revision))`);
    const rawSame = `INSERT INTO "${schemas[1]}".events_same (stream, revision, id, type, data, metadata) VALUES ($1, $2, $3, $4, $5, $6)`;
    const rawInsert = (stream: string, i: number) => rawPool.query({ name: 'raw_insert', text: raw, values: [stream, 'ToolCalled', encode(data(i))] });
    await log.append('warmup', [{ type: 'W', data: 0 }]);

    const SEQ = 100;
    let run = 0;
    // the floor under the log: its own one-event statement (appendExactSql, into the log's schema,
    // NOTIFY flag off) sent by raw pg, i.e. the server's share of the gap
    const exactSql = appendExactSql(schemaNames(schemas[0]!));
    const [seq, seqRaw, seqSame, seqStmt] = await paired([
      [
        'PostgresEventLog append, sequential',
        SEQ,
        async () => {
          const s = `seq-${run++}`;
          for (let i = 0; i < SEQ; i++) await log.append(s, [{ type: 'ToolCalled', data: data(i) }], { expectedRevision: i });
        },
      ],
      [
        'raw pg INSERT, sequential (5-column table)',
        SEQ,
        async () => {
          for (let i = 0; i < SEQ; i++) await rawInsert('seq', i);
        },
      ],
      [
        'raw pg INSERT of the same row, sequential (same columns and unique keys)',
        SEQ,
        async () => {
          const s = `same-${run++}`;
          for (let i = 0; i < SEQ; i++) await samePool.query({ name: 'raw_insert_same', text: rawSame, values: [s, i + 1, uuidV7(), 'ToolCalled', encode(data(i)), '{}'] });
        },
      ],
      [
        "raw pg sending the log's append statement, sequential",
        SEQ,
        async () => {
          const s = `stmt-${run++}`;
          for (let i = 0; i < SEQ; i++) {
            const r = await stmtPool.query({ name: 'raw_append_exact', text: exactSql, values: [s, i, uuidV7(), 'ToolCalled', encode(data(i)), '{}', false], rowMode: 'array' });
            if (r.rows.length !== 1) throw new Error('the raw append statement stored nothing');
          }
        },
      ],
    ]);
    cases.push(seq, seqRaw, seqSame, seqStmt);
    comparisons.push({ label: 'sequential append vs raw INSERT (5-column table)', subject: seq, baseline: seqRaw, target: 0.7 });
    comparisons.push({ label: 'sequential append vs raw INSERT of the same row', subject: seq, baseline: seqSame, target: 0.7 });
    comparisons.push({ label: "the log's statement sent by raw pg vs raw INSERT (5-column table): the floor", subject: seqStmt, baseline: seqRaw });
    comparisons.push({ label: "sequential append vs its statement sent by raw pg", subject: seq, baseline: seqStmt });

    const WORKERS = 16;
    const PER = 25;
    const concurrently = (fn: (w: number, i: number) => Promise<unknown>) => Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = 0; i < PER; i++) await fn(w, i);
    }));
    const [con, conRaw] = await paired([
      [
        'PostgresEventLog append, 16 concurrent appenders',
        WORKERS * PER,
        async () => {
          const r = run++;
          await concurrently((w, i) => log.append(`con-${r}-${w}`, [{ type: 'ToolCalled', data: data(i) }], { expectedRevision: i }));
        },
      ],
      ['raw pg INSERT, 16 concurrent', WORKERS * PER, () => concurrently((w, i) => rawInsert(`con-${w}`, i)).then(() => undefined)],
    ]);
    cases.push(con, conRaw);
    comparisons.push({ label: '16 concurrent appenders vs raw concurrent INSERTs', subject: con, baseline: conRaw, target: 1 });

    // what several processes sharing one log do: 8 logs, each with its own pool (so no group commit
    // between them), each appending sequentially; beside 8 connections inserting the same rows
    const LOGS = 8;
    const SEP = 25;
    const logs = Array.from({ length: LOGS }, () => new PostgresEventLog({ connectionString: URL, schema: schemas[0], maxConnections: 2 }));
    const clients = await Promise.all(Array.from({ length: LOGS }, async () => {
      const c = new pg.Client({ connectionString: URL });
      await c.connect();
      return c;
    }));
    try {
      const [sep, sepRaw] = await paired([
        [
          `${LOGS} PostgresEventLogs (own pools) appending at once`,
          LOGS * SEP,
          async () => {
            const r = run++;
            await Promise.all(logs.map(async (l, w) => {
              for (let i = 0; i < SEP; i++) await l.append(`sep-${r}-${w}`, [{ type: 'ToolCalled', data: data(i) }], { expectedRevision: i });
            }));
          },
        ],
        [
          `raw pg INSERT of the same row, ${LOGS} connections at once`,
          LOGS * SEP,
          async () => {
            const r = run++;
            await Promise.all(clients.map(async (c, w) => {
              for (let i = 0; i < SEP; i++) await c.query({ name: 'raw_insert_same', text: rawSame, values: [`sep-${r}-${w}`, i + 1, uuidV7(), 'ToolCalled', encode(data(i)), '{}'] });
            }));
          },
        ],
      ]);
      cases.push(sep, sepRaw);
      comparisons.push({ label: `${LOGS} logs appending at once vs ${LOGS} raw connections`, subject: sep, baseline: sepRaw });
    } finally {
      for (const l of logs) await l.close();
      for (const c of clients) await c.end();
    }

    const emmett = await emmettAppender(URL);
    if (emmett) {
      const em = await measure('Emmett PostgreSQL appendToStream, 16 concurrent', WORKERS * PER, async () => {
        const r = `${tag}-${run++}`;
        await concurrently((w, i) => emmett(`em-${r}-${w}`, i));
      });
      cases.push(em);
      comparisons.push({ label: '16 concurrent appenders vs Emmett PostgreSQL', subject: con, baseline: em, target: 2 });
    }

    const N = 10_000;
    const reader = new PostgresEventLog({ connectionString: URL, schema: `bench_rd_${tag}`, maxConnections: POOL });
    schemas.push(`bench_rd_${tag}`);
    for (let i = 0; i < N; i += 500) await reader.appendMany([{ stream: `r-${i}`, events: Array.from({ length: 500 }, (_, k) => ({ type: 'ToolCalled', data: data(i + k) })) }]);
    const rawSelect = `SELECT position, stream, revision, id, type, data::text AS data, metadata::text AS metadata, time FROM "bench_rd_${tag}".events ORDER BY position`;
    const [readAll, readRaw] = await paired(
      [
        [
          'PostgresEventLog readAll, 10k events',
          N,
          async () => {
            let n = 0;
            for await (const e of reader.readAll()) n += e.revision > 0 ? 1 : 0;
            if (n !== N) throw new Error(`read ${n} events, expected ${N}`);
          },
        ],
        [
          'raw pg SELECT + decode, 10k rows',
          N,
          async () => {
            const res = await admin.query({ text: rawSelect, types: { getTypeParser: (oid: number, format?: string) => (oid === 114 ? (v: string) => v : pg.types.getTypeParser(oid, format as 'text')) } as never });
            let n = 0;
            for (const row of res.rows) {
              decode(row.data);
              decode(row.metadata);
              n++;
            }
            if (n !== N) throw new Error(`read ${n} rows`);
          },
        ],
      ],
      Number(process.env.BENCH_REPEAT ?? 7),
    );
    cases.push(readAll, readRaw);
    comparisons.push({ label: 'readAll vs raw SELECT + decode', subject: readAll, baseline: readRaw, target: 0.7 });
    await reader.close();

    await sqlAgentCases(admin, tag, schemas, cases, comparisons);
  } finally {
    await log.close();
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await admin.end();
    await rawPool.end();
    await samePool.end();
    await stmtPool.end();
  }
  report('postgres', cases, comparisons);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
