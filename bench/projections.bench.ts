/**
 * The built-in views (KV, versions, audit) as projections, beside hand-written code doing the same
 * work (DGENT_POSTGRES_URL, default the local service; BENCH_REPEAT runs per case):
 * - rebuild of the three views from a log of PROJ_SQLITE_EVENTS (default 1 000 000) SQLite and
 *   PROJ_PG_EVENTS (default 200 000) PostgreSQL `kv.set` events (10 versions per key), vs a raw-driver
 *   loop that reads every event and writes the same rows in batches (target >= 0.7x)
 * - one sequential append with the three views inline vs the bare append, SQLite and PostgreSQL (target >= 0.5x);
 *   and, informational, an append of an event type no view handles (an agent's own event on a log
 *   that also hosts a Store) on the same log vs the bare append
 * - the floors under SQLite's inline append (informational): the same appends with a hand-written
 *   inline projection that only runs the three statements of the views' rows, and the same appends
 *   and rows through the raw driver without dgent, each vs its bare append
 * - the same inline work (upsert the key's row, insert a version row and an audit row, add the
 *   namespace if absent, in the append's transaction, on tables with the views' indexes: audit by key
 *   and by actor, kv's partial expiry index) through Emmett's PostgreSQL inline projections
 *   (postgreSQLRawSQLProjection: Emmett takes a projection lock, then sends the statements one by
 *   one; target: dgent >= 2x)
 * - async lag from commit to view (p50, p99; hdr-histogram-js) under 16 concurrent appenders on PostgreSQL
 * PROJ_APPENDS (default 200) appends per round of the append cases, PROJ_LAG_EVENTS (default 4000).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import * as hdr from 'hdr-histogram-js';
import { encode, keyedEvents, keyStream, keyedViews, ProjectionRunner, SqliteEventLog, SqliteViewStorage, type EventLog, type Projection } from '../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../src/postgres.js';
import { report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';
import { handWrittenViews, rawPgRebuild, rawSqliteAppends, rawSqliteRebuild } from './projections-raw.js';

const URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SQLITE_EVENTS = Number(process.env.PROJ_SQLITE_EVENTS ?? 1_000_000);
const PG_EVENTS = Number(process.env.PROJ_PG_EVENTS ?? 200_000);
const APPENDS = Number(process.env.PROJ_APPENDS ?? 200);
const LAG_EVENTS = Number(process.env.PROJ_LAG_EVENTS ?? 4000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const NAMES = ['kv', 'kv_versions', 'kv_audit'];

const value = (i: number) => ({ n: i, name: `user ${i % 1000}`, tags: ['a', 'b'], score: (i * 7) % 100 });
const keyOf = (i: number, keys: number) => `user:${i % keys}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Time `fn` REPEAT times (no warm-up: the views were built once already); median rate. */
async function timed(name: string, ops: number, fn: () => Promise<void>): Promise<CaseResult> {
  const runs: number[] = [];
  for (let i = 0; i < REPEAT; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    runs.push(ops / (Number(process.hrtime.bigint() - t0) / 1e9));
    console.log(`  ${name}: ${Math.round(runs.at(-1)!)} events/s`);
  }
  return { name, opsPerSec: median(runs), runs, ops };
}

async function rebuildAll(runner: ProjectionRunner): Promise<void> {
  await Promise.all(NAMES.map((n) => runner.rebuild(n)));
}

async function sqliteRebuild(dir: string): Promise<[CaseResult, CaseResult]> {
  const path = join(dir, 'rebuild.db');
  const log = new SqliteEventLog({ path });
  await log.append('warm', [{ type: 'x', data: 1 }]);
  await log.close();
  const db = new Database(path);
  const ins = db.prepare('INSERT INTO dgent_events (stream, revision, id, type, data, metadata, time) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const keys = Math.max(1, SQLITE_EVENTS / 10);
  const meta = encode({ operation: 'set', actor: 'bench' });
  db.transaction(() => {
    for (let i = 0; i < SQLITE_EVENTS; i++) {
      ins.run(keyStream('default', keyOf(i, keys)), Math.floor(i / keys) + 1, `e${i}`, 'kv.set', encode(keyedEvents.set({ value: value(i) }).data), meta, 1_700_000_000_000 + i);
    }
  })();
  db.close();
  const log2 = new SqliteEventLog({ path });
  const storage = new SqliteViewStorage({ path });
  const runner = new ProjectionRunner({ log: log2, storage, projections: keyedViews() });
  await runner.start();
  const subject = await timed(`SQLite rebuild of the 3 views (${SQLITE_EVENTS} events)`, SQLITE_EVENTS, () => rebuildAll(runner));
  await runner.close();
  await storage.close();
  await log2.close();
  const baseline = await timed(`SQLite raw loop writing the same rows (${SQLITE_EVENTS} events)`, SQLITE_EVENTS, async () => rawSqliteRebuild(path));
  return [subject, baseline];
}

async function pgRebuild(schema: string): Promise<[CaseResult, CaseResult]> {
  const log = new PostgresEventLog({ connectionString: URL, schema });
  const keys = Math.max(1, PG_EVENTS / 10);
  for (let i = 0; i < PG_EVENTS; i += keys) {
    const n = Math.min(keys, PG_EVENTS - i);
    for (let j = 0; j < n; j += 1000) {
      const parts = Array.from({ length: Math.min(1000, n - j) }, (_, k) => ({ stream: keyStream('default', keyOf(i + j + k, keys)), events: [keyedEvents.set({ value: value(i + j + k) }, { actor: 'bench' })] }));
      await log.appendMany(parts);
    }
  }
  const storage = new PostgresViewStorage({ connectionString: URL, schema });
  const runner = new ProjectionRunner({ log, storage, projections: keyedViews() });
  await runner.start();
  const subject = await timed(`PostgreSQL rebuild of the 3 views (${PG_EVENTS} events)`, PG_EVENTS, () => rebuildAll(runner));
  await runner.close();
  await storage.close();
  await log.close();
  const baseline = await timed(`PostgreSQL raw loop writing the same rows (${PG_EVENTS} events)`, PG_EVENTS, () => rawPgRebuild(URL, schema));
  return [subject, baseline];
}

/** A round of APPENDS sequential single-event appends of `kv.set` to 1000 keys. */
function appendRound(log: EventLog): () => Promise<void> {
  let i = 0;
  return async () => {
    for (let k = 0; k < APPENDS; k++, i++) await log.append(keyStream('default', keyOf(i, 1000)), [keyedEvents.set({ value: value(i) }, { actor: 'bench' })]);
  };
}

/** A round of APPENDS sequential single-event appends of an agent's own event type, which no view handles. */
function otherRound(log: EventLog): () => Promise<void> {
  let i = 0;
  return async () => {
    for (let k = 0; k < APPENDS; k++, i++) await log.append(`agent-${i % 1000}`, [{ type: 'agent.saved', data: value(i) }]);
  };
}

async function withInline<T>(log: EventLog, storage: SqliteViewStorage | PostgresViewStorage, fn: () => Promise<T>): Promise<T> {
  const runner = new ProjectionRunner({ log, storage, projections: keyedViews().map((projection) => ({ projection, mode: 'inline' as const })) });
  await runner.start();
  try {
    return await fn();
  } finally {
    await runner.close();
  }
}

async function emmettInline(): Promise<(() => Promise<void>) | undefined> {
  try {
    const { getPostgreSQLEventStore, postgreSQLRawSQLProjection } = await import('@event-driven-io/emmett-postgresql');
    const { projections } = await import('@event-driven-io/emmett');
    const { sql } = await import('@event-driven-io/dumbo');
    const t = `emmett_views_${process.pid}`;
    const setup = new pg.Client({ connectionString: URL });
    await setup.connect();
    await setup.query(`CREATE TABLE IF NOT EXISTS ${t}_kv (namespace text, key text, value text, value_jsonb jsonb, version bigint, created_at bigint, updated_at bigint, position bigint, PRIMARY KEY (namespace, key));
      CREATE TABLE IF NOT EXISTS ${t}_versions (namespace text, key text, version bigint, value text, time bigint, actor text, operation text, position bigint, PRIMARY KEY (namespace, key, version));
      CREATE TABLE IF NOT EXISTS ${t}_audit (position bigint PRIMARY KEY, time bigint, actor text, operation text, type text, namespace text, key text, version bigint);
      CREATE TABLE IF NOT EXISTS ${t}_ns (namespace text PRIMARY KEY, created_at bigint);
      -- the same indexes as dgent's views: the same work per append (they are what the views' reads use)
      CREATE INDEX IF NOT EXISTS ${t}_audit_key ON ${t}_audit (namespace, key, position);
      CREATE INDEX IF NOT EXISTS ${t}_audit_actor ON ${t}_audit (actor, position)`);
    await setup.end();
    const views = postgreSQLRawSQLProjection<{ type: 'kv.set'; data: { value: unknown } }>({
      name: 'views',
      canHandle: ['kv.set'],
      evolve: (e: any) => {
        const [ns, key] = [e.metadata.streamName.slice(3, e.metadata.streamName.indexOf('/')), e.metadata.streamName.slice(e.metadata.streamName.indexOf('/') + 1)];
        const v = JSON.stringify(e.data.value);
        const ver = Number(e.metadata.streamPosition);
        const pos = Number(e.metadata.globalPosition);
        const now = Date.now();
        return [
          sql(`INSERT INTO ${t}_kv VALUES (%L, %L, %L, %L::jsonb, %s, %s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, value_jsonb = excluded.value_jsonb, version = excluded.version, updated_at = excluded.updated_at, position = excluded.position`, ns, key, v, v, ver, now, now, pos),
          sql(`INSERT INTO ${t}_versions VALUES (%L, %L, %s, %L, %s, %L, 'set', %s)`, ns, key, ver, v, now, 'bench', pos),
          sql(`INSERT INTO ${t}_audit VALUES (%s, %s, %L, 'set', 'kv.set', %L, %L, %s)`, pos, now, 'bench', ns, key, ver),
          sql(`INSERT INTO ${t}_ns VALUES (%L, %s) ON CONFLICT DO NOTHING`, ns, now),
        ];
      },
    });
    const store = getPostgreSQLEventStore(URL, { projections: projections.inline([views]) });
    let i = 0;
    return async () => {
      for (let k = 0; k < APPENDS; k++, i++) await store.appendToStream(keyStream('default', `e${process.pid}:${i % 1000}`), [{ type: 'kv.set', data: { value: value(i) } }]);
    };
  } catch (e) {
    console.log(`\n(Emmett inline projection comparison skipped: ${(e as Error).message.split('\n')[0]})`);
    return undefined;
  }
}

/** Commit-to-view lag of the async views under 16 concurrent appenders, µs percentiles. */
async function pgLag(schema: string): Promise<{ p50Ms: number; p99Ms: number; events: number }> {
  const log = new PostgresEventLog({ connectionString: URL, schema });
  const storage = new PostgresViewStorage({ connectionString: URL, schema: `${schema}_v` });
  const committed = new Map<number, number>();
  const seen = new Map<number, number>();
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const record = (pos: number) => {
    const c = committed.get(pos), s = seen.get(pos);
    if (c !== undefined && s !== undefined) histogram.recordValue(Math.max(1, Math.round((s - c) * 1000)));
  };
  const [kv, ...rest] = keyedViews();
  const watched: Projection = { ...kv!, apply: async (events, ctx) => {
    await kv!.apply(events, ctx);
    ctx.onCommit(() => { const now = performance.now(); for (const e of events) { seen.set(e.position, now); record(e.position); } });
  } };
  const runner = new ProjectionRunner({ log, storage, projections: [watched, ...rest].map((projection) => ({ projection, mode: 'async' as const })) });
  await runner.start();
  const per = Math.ceil(LAG_EVENTS / 16);
  await Promise.all(Array.from({ length: 16 }, async (_, w) => {
    for (let i = 0; i < per; i++) {
      const r = await log.append(keyStream('default', `lag:${w}:${i % 50}`), [keyedEvents.set({ value: value(i) }, { actor: `w${w}` })]);
      committed.set(r.position, performance.now());
      record(r.position);
    }
  }));
  await runner.whenCaughtUp({ timeoutMs: 120_000 });
  await runner.close();
  await storage.close();
  await log.close();
  return { p50Ms: histogram.getValueAtPercentile(50) / 1000, p99Ms: histogram.getValueAtPercentile(99) / 1000, events: histogram.totalCount };
}

export async function main(): Promise<void> {
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'dgent-bench-proj-'));
  const schemas: string[] = [];
  let lag: Awaited<ReturnType<typeof pgLag>> | undefined;
  try {
    const [rb, rr] = await sqliteRebuild(dir);
    cases.push(rb, rr);
    comparisons.push({ label: 'SQLite: rebuild of the 3 views vs raw loop', subject: rb, baseline: rr, target: 0.7 });

    const bare = new SqliteEventLog({ path: join(dir, 'bare.db') });
    const viewsLog = new SqliteEventLog({ path: join(dir, 'inline.db') });
    const viewsStore = new SqliteViewStorage({ path: join(dir, 'inline.db') });
    // the floors (see projections-raw.ts): a hand-written inline projection writing the views' rows
    // with three prepared statements, and the same appends and rows through the raw driver alone
    const handLog = new SqliteEventLog({ path: join(dir, 'hand.db') });
    const handStore = new SqliteViewStorage({ path: join(dir, 'hand.db') });
    const hand = new ProjectionRunner({ log: handLog, storage: handStore, projections: [{ projection: handWrittenViews(), mode: 'inline' }] });
    await hand.start();
    const rawEvent = (i: number) => {
      const e = keyedEvents.set({ value: value(i) }, { actor: 'bench' });
      return { stream: keyStream('default', keyOf(i, 1000)), data: encode(e.data), metadata: encode(e.metadata), value: encode(value(i)), actor: 'bench' };
    };
    const rawBare = rawSqliteAppends(join(dir, 'raw-bare.db'), false, APPENDS, rawEvent);
    const rawViews = rawSqliteAppends(join(dir, 'raw-views.db'), true, APPENDS, rawEvent);
    const rawChecked = rawSqliteAppends(join(dir, 'raw-checked.db'), true, APPENDS, rawEvent, true);
    const [sInline, sBare, sOther, sHand, sRawViews, sRawBare, sRawChecked] = await withInline(viewsLog, viewsStore, () =>
      paired([
        [`SQLite append + 3 inline views (x${APPENDS})`, APPENDS, appendRound(viewsLog)],
        [`SQLite bare append (x${APPENDS})`, APPENDS, appendRound(bare)],
        [`SQLite append of an event no view handles, 3 inline views (x${APPENDS})`, APPENDS, otherRound(viewsLog)],
        [`SQLite append + a hand-written inline projection writing the 3 views' rows (x${APPENDS})`, APPENDS, appendRound(handLog)],
        [`raw driver: append + the 3 views' rows (x${APPENDS})`, APPENDS, rawViews.round],
        [`raw driver: bare append (x${APPENDS})`, APPENDS, rawBare.round],
        [`raw driver: append + the 3 views' rows + their checkpoint rows (x${APPENDS})`, APPENDS, rawChecked.round],
      ]),
    );
    cases.push(sInline, sBare, sOther, sHand, sRawViews, sRawBare, sRawChecked);
    comparisons.push({ label: 'SQLite: append with 3 inline views vs bare append', subject: sInline, baseline: sBare, target: 0.5 });
    comparisons.push({ label: 'SQLite: append of an event no view handles, with 3 inline views, vs bare append', subject: sOther, baseline: sBare });
    comparisons.push({ label: "SQLite floor: append + hand-written projection of the 3 views' rows vs bare append", subject: sHand, baseline: sBare });
    comparisons.push({ label: "SQLite floor, raw driver: append + the 3 views' rows vs bare append", subject: sRawViews, baseline: sRawBare });
    comparisons.push({ label: "SQLite floor, raw driver: append + the 3 views' rows + checkpoint rows vs bare append", subject: sRawChecked, baseline: sRawBare });
    await hand.close();
    rawBare.close();
    rawViews.close();
    rawChecked.close();
    await Promise.all([bare.close(), viewsStore.close(), viewsLog.close(), handStore.close(), handLog.close()]);

    const probe = new pg.Client({ connectionString: URL });
    const pgUp = await probe.connect().then(() => true, () => false);
    await probe.end().catch(() => undefined);
    if (!pgUp) console.log(`\n(PostgreSQL cases skipped: ${URL} is not reachable)`);
    else {
      const s = (p: string) => (schemas.push(p, `${p}_v`), p);
      const id = `${process.pid}_${Date.now().toString(36)}`;
      const [pb, pr] = await pgRebuild(s(`bproj_rb_${id}`));
      cases.push(pb, pr);
      comparisons.push({ label: 'PostgreSQL: rebuild of the 3 views vs raw loop', subject: pb, baseline: pr, target: 0.7 });
      const pBare = new PostgresEventLog({ connectionString: URL, schema: s(`bproj_bare_${id}`) });
      const inlineSchema = s(`bproj_inl_${id}`);
      const pLog = new PostgresEventLog({ connectionString: URL, schema: inlineSchema });
      const pStore = new PostgresViewStorage({ connectionString: URL, schema: inlineSchema });
      const emmett = await emmettInline();
      const rounds: [string, number, () => Promise<void>][] = [[`PostgreSQL append + 3 inline views (x${APPENDS})`, APPENDS, appendRound(pLog)], [`PostgreSQL bare append (x${APPENDS})`, APPENDS, appendRound(pBare)]];
      rounds.push([`PostgreSQL append of an event no view handles, 3 inline views (x${APPENDS})`, APPENDS, otherRound(pLog)]);
      if (emmett) rounds.push([`Emmett append + the same 3 inline views (x${APPENDS})`, APPENDS, emmett]);
      const res = await withInline(pLog, pStore, () => paired(rounds));
      cases.push(...res);
      comparisons.push({ label: 'PostgreSQL: append with 3 inline views vs bare append', subject: res[0]!, baseline: res[1]!, target: 0.5 });
      comparisons.push({ label: 'PostgreSQL: append of an event no view handles, with 3 inline views, vs bare append', subject: res[2]!, baseline: res[1]! });
      if (res[3]) comparisons.push({ label: 'PostgreSQL: dgent vs Emmett, append with the same inline views', subject: res[0]!, baseline: res[3], target: 2 });
      await Promise.all([pBare.close(), pStore.close(), pLog.close()]);
      lag = await pgLag(s(`bproj_lag_${id}`));
      console.log(`\nasync lag, commit to view, 16 appenders, ${lag.events} events: p50 ${lag.p50Ms.toFixed(1)} ms, p99 ${lag.p99Ms.toFixed(1)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    if (schemas.length > 0) {
      const c = new pg.Client({ connectionString: URL });
      await c.connect();
      for (const sc of schemas) await c.query(`DROP SCHEMA IF EXISTS "${sc}" CASCADE`);
      // the Emmett case's view tables live in Emmett's schema (public)
      for (const v of ['kv', 'versions', 'audit', 'ns']) await c.query(`DROP TABLE IF EXISTS emmett_views_${process.pid}_${v}`);
      await c.end();
    }
  }
  report('projections', cases, comparisons);
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'projections.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...json, sizes: { SQLITE_EVENTS, PG_EVENTS, APPENDS, LAG_EVENTS }, asyncLag: lag && { appenders: 16, ...lag } }, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
