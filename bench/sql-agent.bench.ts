/**
 * SQLAgent on SQLite (a file, WAL, synchronous NORMAL) beside:
 * - raw better-sqlite3 running the statements SQLAgent runs, prepared once, on a file with the same
 *   pragmas (save: the INSERT ... SELECT of the next version; load: the SELECT of the newest row +
 *   decode of its state)
 * - LangGraph's SqliteSaver (`@langchain/langgraph-checkpoint-sqlite`, when installed): save = put
 *   of a checkpoint holding the state, load = getTuple; its database set to synchronous NORMAL too
 * Sequential calls with a ~2 KB state, in rotating short rounds (see paired.ts). SQLAgent keeps its
 * default retention (1000 versions), so its saves also prune old rows in batches; the raw side keeps
 * every row. Files go to a temp directory (DGENT_BENCH_DIR to choose the disk).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decode, encode, SQLAgent } from '../src/index.js';
import { report, type CaseResult, type Comparison } from './lib.js';
import { paired, type PairedCase } from './paired.js';

function sampleState(step: number): { turns: { role: string; text: string; at: number }[]; tools: string[]; step: number } {
  return {
    turns: Array.from({ length: 16 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: `message ${i} `.repeat(8), at: 1_700_000_000_000 + i })),
    tools: ['search', 'calculator', 'browser'],
    step,
  };
}

async function langGraphSaver(path: string): Promise<{ save(state: unknown, k: number): Promise<void>; load(): Promise<unknown>; close(): void } | undefined> {
  try {
    const { SqliteSaver } = (await import('@langchain/langgraph-checkpoint-sqlite' as string)) as typeof import('@langchain/langgraph-checkpoint-sqlite');
    const { emptyCheckpoint, uuid6 } = (await import('@langchain/langgraph-checkpoint' as string)) as typeof import('@langchain/langgraph-checkpoint');
    const saver = SqliteSaver.fromConnString(path);
    const db = (saver as unknown as { db: Database.Database }).db;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const config = { configurable: { thread_id: 'bench', checkpoint_ns: '' } };
    return {
      async save(state, k) {
        const checkpoint = { ...emptyCheckpoint(), id: uuid6(-1), ts: new Date().toISOString(), channel_values: { state }, channel_versions: { state: k } };
        await saver.put(config, checkpoint, { source: 'update', step: k, parents: {} });
      },
      async load() {
        return (await saver.getTuple(config))?.checkpoint.channel_values.state;
      },
      close: () => db.close(),
    };
  } catch (e) {
    console.log(`\n(LangGraph SqliteSaver comparison skipped: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-bench-sql-'));
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const agent = new SQLAgent<ReturnType<typeof sampleState>>({ path: join(dir, 'agent.db'), id: 'bench' });
  const keepAll = new SQLAgent<ReturnType<typeof sampleState>>({ path: join(dir, 'agent-all.db'), id: 'bench', retention: Infinity });
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.exec('create table t (agent_id text not null, version bigint not null, state text not null, time bigint not null, schema_version integer not null, primary key (agent_id, version))');
  // the statements SQLAgent runs (src/agents/sql/statements.ts), as Kysely spells them for SQLite
  const insert = raw.prepare(`insert into "t" (agent_id, version, state, time, schema_version)
    select cast(? as text), m.v + 1, cast(? as text), cast(? as bigint), cast(? as integer)
    from (select coalesce(max(version), 0) as v from "t" where agent_id = ?) m
    returning version`);
  const select = raw.prepare('select "version", "state", "time", "schema_version" from "t" where "agent_id" = ? order by "version" desc limit ?');
  const lg = await langGraphSaver(join(dir, 'langgraph.db'));
  const N = 200;
  let k = 0;
  try {
    const saveCases: PairedCase[] = [
      ['SQLAgent.save (SQLite, new state each call)', N, async () => { for (let i = 0; i < N; i++) await agent.save(sampleState(k++)); }],
      ['raw better-sqlite3: the same INSERT ... SELECT, prepared', N, async () => { for (let i = 0; i < N; i++) insert.get('raw', encode(sampleState(k++)), Date.now(), 1, 'raw'); }],
      ['SQLAgent.save (SQLite, retention Infinity: no pruning)', N, async () => { for (let i = 0; i < N; i++) await keepAll.save(sampleState(k++)); }],
    ];
    if (lg) saveCases.push(['LangGraph SqliteSaver.put (a checkpoint holding the state)', N, async () => { for (let i = 0; i < N; i++) await lg.save(sampleState(k), k++); }]);
    const saves = await paired(saveCases);
    const loadCases: PairedCase[] = [
      ['SQLAgent.load (SQLite)', N, async () => { for (let i = 0; i < N; i++) await agent.load(); }],
      ['raw better-sqlite3: the same SELECT, prepared, + decode', N, async () => { for (let i = 0; i < N; i++) decode((select.get('raw', 1) as { state: string }).state); }],
    ];
    if (lg) loadCases.push(['LangGraph SqliteSaver.getTuple (the newest checkpoint)', N, async () => { for (let i = 0; i < N; i++) await lg.load(); }]);
    const loads = await paired(loadCases);
    cases.push(...saves, ...loads);
    comparisons.push(
      { label: 'SQLAgent save vs raw better-sqlite3, the same statement prepared', subject: saves[0]!, baseline: saves[1]! },
      { label: '… SQLAgent keeping every version (no pruning) vs the same raw statement', subject: saves[2]!, baseline: saves[1]! },
      { label: 'SQLAgent load vs raw better-sqlite3, the same SELECT + decode (SQLAgent reuses its decoded state while the row is unchanged)', subject: loads[0]!, baseline: loads[1]! },
    );
    if (lg) {
      comparisons.push(
        { label: 'SQLAgent save vs LangGraph SqliteSaver.put', subject: saves[0]!, baseline: saves[3]! },
        { label: 'SQLAgent load vs LangGraph SqliteSaver.getTuple', subject: loads[0]!, baseline: loads[2]! },
      );
    }
  } finally {
    await agent.close();
    await keepAll.close();
    raw.close();
    lg?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  report('sql-agent', cases, comparisons);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
