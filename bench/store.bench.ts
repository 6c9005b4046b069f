/**
 * The Store beside raw drivers and Keyv, on SQLite (a file, WAL, synchronous NORMAL) and
 * PostgreSQL (DGENT_POSTGRES_URL, default the local server):
 * - get: Store.get vs a raw prepared SELECT of one row by key + decode of its value; vs Keyv.get
 * - set: Store.set (appends a keyed event and maintains the KV, versions and audit views inline,
 *   in the append's transaction) vs a raw upsert of one row; vs Keyv.set
 * - query on 100k keys: Store.query({ path: 'age', op: 'eq' }) over an indexed view vs the same SQL
 *   run raw (the statement the view reader runs, prepared, + decode of the rows)
 * - PostgreSQL, informational: incr vs a raw counter upsert, update of one field vs a raw jsonb_set
 *   UPDATE, delete + set vs a raw DELETE + INSERT
 * Sequential calls (~200 B values), in rotating short rounds (see paired.ts). Keyv with @keyv/sqlite
 * and @keyv/postgres (devDependencies). Files go to a temp directory (DGENT_BENCH_DIR).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import Keyv from 'keyv';
import KeyvSqlite from '@keyv/sqlite';
import KeyvPostgres from '@keyv/postgres';
import { decode, encode, SqliteEventLog, Store, type EventLog } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';

const N = 200;
const KEYS = 1000;
const QUERY_KEYS = Number(process.env.BENCH_STORE_QUERY_KEYS ?? 100_000);
const value = (i: number) => ({ name: `user ${i}`, age: i % 97, email: `user${i}@example.com`, tags: ['a', 'b'], bio: 'x'.repeat(100) });

interface Side {
  get(k: string): Promise<unknown> | unknown;
  set(k: string, v: unknown): Promise<unknown> | unknown;
}

async function fill(store: Store, n: number, namespace: string): Promise<void> {
  for (let i = 0; i < n; i += 1000) await store.setMany(Array.from({ length: Math.min(1000, n - i) }, (_, j) => [`k${i + j}`, value(i + j)] as const), { namespace });
}

async function compare(label: string, store: Store, raw: Side, keyv: Keyv, cases: CaseResult[], comparisons: Comparison[]): Promise<void> {
  let n = 0;
  const key = () => `k${n++ % KEYS}`;
  const gets = await paired([
    [`Store.get (${label})`, N, async () => { for (let i = 0; i < N; i++) await store.get(key()); }],
    [`raw prepared SELECT by key + decode (${label})`, N, async () => { for (let i = 0; i < N; i++) await raw.get(key()); }],
    [`Keyv.get (@keyv/${label.toLowerCase()})`, N, async () => { for (let i = 0; i < N; i++) await keyv.get(key()); }],
  ]);
  let m = 0;
  const sets = await paired([
    [`Store.set (${label}, 3 inline views)`, N, async () => { for (let i = 0; i < N; i++) await store.set(`k${m % KEYS}`, value(m++)); }],
    [`raw upsert of one row (${label})`, N, async () => { for (let i = 0; i < N; i++) await raw.set(`k${m % KEYS}`, value(m++)); }],
    [`Keyv.set (@keyv/${label.toLowerCase()})`, N, async () => { for (let i = 0; i < N; i++) await keyv.set(`k${m % KEYS}`, value(m++)); }],
  ]);
  cases.push(...gets, ...sets);
  comparisons.push(
    { label: `${label}: Store.get vs raw prepared SELECT`, subject: gets[0], baseline: gets[1], target: 0.7 },
    { label: `${label}: Store.get vs Keyv.get`, subject: gets[0], baseline: gets[2], target: 1 },
    { label: `${label}: Store.set vs raw upsert of one row`, subject: sets[0], baseline: sets[1], target: 0.4 },
    { label: `${label}: Store.set vs Keyv.set`, subject: sets[0], baseline: sets[2] },
  );
}

async function sqlite(dir: string, cases: CaseResult[], comparisons: Comparison[]): Promise<void> {
  const SYNC = 'NORMAL' as const; // the log's default, stated: the raw side gets the same
  const log = new SqliteEventLog({ path: join(dir, 'store.db'), synchronous: SYNC });
  const store = new Store({ log, viewOptions: { kv: { indexes: ['age'] } }, sweepIntervalMs: 0 });
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.pragma(`synchronous = ${SYNC}`);
  raw.exec('CREATE TABLE kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (namespace, key)) STRICT');
  const sel = raw.prepare('SELECT value FROM kv WHERE namespace = ? AND key = ?');
  const up = raw.prepare('INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value');
  const keyv = new Keyv({ store: new KeyvSqlite({ uri: `sqlite://${join(dir, 'keyv.db')}` }) });
  try {
    await fill(store, KEYS, 'default');
    // the same durability on both sides: read the settings back from the connections that commit
    const probe = new Database(join(dir, 'store.db'), { readonly: true });
    settings.sqlite = {
      store: `journal_mode=${String(probe.pragma('journal_mode', { simple: true }))}, synchronous=${SYNC} (SqliteEventLog's default), one transaction per set (append + 3 views + checkpoint)`,
      raw: `journal_mode=${String(raw.pragma('journal_mode', { simple: true }))}, synchronous=${['OFF', 'NORMAL', 'FULL', 'EXTRA'][raw.pragma('synchronous', { simple: true }) as number]}, autocommit (one transaction per upsert)`,
    };
    probe.close();
    for (let i = 0; i < KEYS; i++) up.run('default', `k${i}`, encode(value(i)));
    for (let i = 0; i < KEYS; i++) await keyv.set(`k${i}`, value(i));
    await compare('SQLite', store, {
      get: (k) => decode((sel.get('default', k) as { value: string }).value),
      set: (k, v) => up.run('default', k, encode(v)),
    }, keyv, cases, comparisons);
    // query on QUERY_KEYS keys: the view's own statement, prepared, on the same table
    await fill(store, QUERY_KEYS, 'q');
    const views = new Database(join(dir, 'store.db'), { readonly: true });
    const table = views.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dgent_p_kv__g%_kv'`).pluck().get() as string;
    const q = views.prepare(`SELECT key, value, version, metadata FROM "${table}" WHERE namespace = ? AND (expires_at IS NULL OR expires_at > ?) AND (json_type(value, '$.age') IN ('integer', 'real') AND json_extract(value, '$.age') = ?) ORDER BY key`);
    let a = 0;
    const queries = await paired([
      [`Store.query age = x on ${QUERY_KEYS} keys (SQLite, indexed)`, 1, async () => { await store.query({ path: 'age', op: 'eq', value: a++ % 97 }, { namespace: 'q' }); }],
      [`raw: the same SELECT, prepared, + decode (SQLite)`, 1, async () => { q.all('q', Date.now(), a++ % 97).map((r: any) => ({ key: r.key, value: decode(r.value), version: r.version, metadata: r.metadata === null ? null : decode(r.metadata) })); }],
    ], 21, 3);
    views.close();
    cases.push(...queries);
    comparisons.push({ label: `SQLite: Store.query vs the same raw SQL (${QUERY_KEYS} keys, ~${Math.round(QUERY_KEYS / 97)} rows each)`, subject: queries[0], baseline: queries[1], target: 0.7 });
  } finally {
    await store.close();
    await log.close();
    raw.close();
    await keyv.disconnect();
  }
}

async function postgres(cases: CaseResult[], comparisons: Comparison[]): Promise<void> {
  const url = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const schema = `dgbench_store_${process.pid}`;
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`CREATE TABLE ${schema}.raw_kv (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value json NOT NULL, PRIMARY KEY (namespace, key))`);
  const log: EventLog = new PostgresEventLog({ connectionString: url, schema });
  const store = new Store({ log, viewOptions: { kv: { indexes: ['age'] } }, sweepIntervalMs: 0 });
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  const keyv = new Keyv({ store: new KeyvPostgres({ uri: url, schema, table: 'keyv' }) });
  try {
    await fill(store, KEYS, 'default');
    const server = (await pool.query(`SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fs, current_setting('wal_sync_method') AS ws`)).rows[0];
    settings.postgres = `same server and database for Store and raw: synchronous_commit=${server.sc}, fsync=${server.fs}, wal_sync_method=${server.ws}; Store.set: one transaction (append + 3 views + checkpoint), raw: one autocommit upsert`;
    for (let i = 0; i < KEYS; i++) await pool.query(`INSERT INTO ${schema}.raw_kv VALUES ($1, $2, $3)`, ['default', `k${i}`, encode(value(i))]);
    for (let i = 0; i < KEYS; i++) await keyv.set(`k${i}`, value(i));
    await compare('Postgres', store, {
      get: async (k) => decode((await pool.query({ name: 'raw_get', text: `SELECT value::text AS v FROM ${schema}.raw_kv WHERE namespace = $1 AND key = $2`, values: ['default', k] })).rows[0].v),
      set: (k, v) => pool.query({ name: 'raw_up', text: `INSERT INTO ${schema}.raw_kv VALUES ($1, $2, $3) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value`, values: ['default', k, encode(v)] }),
    }, keyv, cases, comparisons);
    // read-modify-write operations (informational): on the Store's side each is one statement (the
    // append and the views' writes, with the value the Store folded from the row it read)
    await pool.query(`CREATE TABLE ${schema}.raw_counter (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, n bigint NOT NULL, PRIMARY KEY (namespace, key))`);
    const c = { incr: 0, rawIncr: 0, upd: 0, rawUpd: 0, del: 0, rawDel: 0 };
    const rmw = await paired([
      ['Store.incr (PostgreSQL)', N, async () => { for (let i = 0; i < N; i++) await store.incr(`c${c.incr++ % 100}`, 1); }],
      ['raw counter upsert RETURNING the total (PostgreSQL)', N, async () => {
        for (let i = 0; i < N; i++) await pool.query({ name: 'raw_incr', text: `INSERT INTO ${schema}.raw_counter VALUES ($1, $2, 1) ON CONFLICT (namespace, key) DO UPDATE SET n = raw_counter.n + 1 RETURNING n`, values: ['default', `c${c.rawIncr++ % 100}`] });
      }],
      ['Store.update of one field (PostgreSQL)', N, async () => {
        for (let i = 0; i < N; i++) {
          const k = c.upd++;
          await store.update<ReturnType<typeof value>>(`k${k % KEYS}`, (d) => { d!.age = k % 97; });
        }
      }],
      ['raw UPDATE of one field with jsonb_set (PostgreSQL)', N, async () => {
        for (let i = 0; i < N; i++) {
          const k = c.rawUpd++;
          await pool.query({ name: 'raw_upd', text: `UPDATE ${schema}.raw_kv SET value = jsonb_set(value::jsonb, '{age}', to_jsonb($3::int))::json WHERE namespace = $1 AND key = $2`, values: ['default', `k${k % KEYS}`, k % 97] });
        }
      }],
      ['Store.delete, then Store.set again (PostgreSQL)', N, async () => {
        for (let i = 0; i < N / 2; i++) {
          const k = `k${c.del++ % KEYS}`;
          await store.delete(k);
          await store.set(k, value(i));
        }
      }],
      ['raw DELETE, then INSERT again (PostgreSQL)', N, async () => {
        for (let i = 0; i < N / 2; i++) {
          const k = `k${c.rawDel++ % KEYS}`;
          await pool.query({ name: 'raw_del', text: `DELETE FROM ${schema}.raw_kv WHERE namespace = $1 AND key = $2`, values: ['default', k] });
          await pool.query({ name: 'raw_ins', text: `INSERT INTO ${schema}.raw_kv VALUES ($1, $2, $3)`, values: ['default', k, encode(value(i))] });
        }
      }],
    ]);
    cases.push(...rmw);
    comparisons.push(
      { label: 'Postgres: Store.incr vs raw counter upsert', subject: rmw[0], baseline: rmw[1] },
      { label: 'Postgres: Store.update (one field) vs raw jsonb_set UPDATE', subject: rmw[2], baseline: rmw[3] },
      { label: 'Postgres: Store.delete + set vs raw DELETE + INSERT', subject: rmw[4], baseline: rmw[5] },
    );
    await fill(store, QUERY_KEYS, 'q');
    const { rows } = await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'dgent_p_kv__g%_kv'`, [schema]);
    const table = `${schema}."${rows[0].tablename}"`;
    let a = 0;
    const queries = await paired([
      [`Store.query age = x on ${QUERY_KEYS} keys (PostgreSQL, indexed)`, 1, async () => { await store.query({ path: 'age', op: 'eq', value: a++ % 97 }, { namespace: 'q' }); }],
      [`raw: the same SELECT on the view table (jsonb expression index), prepared, + decode (PostgreSQL)`, 1, async () => {
        const r = await pool.query({ name: 'raw_q', text: `SELECT key, value, version, metadata FROM ${table} WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2) AND (value_jsonb #> '{age}') = $3::jsonb ORDER BY key`, values: ['q', Date.now(), JSON.stringify(a++ % 97)] });
        r.rows.map((x) => ({ key: x.key, value: decode(x.value), version: Number(x.version), metadata: x.metadata === null ? null : decode(x.metadata) }));
      }],
    ], 21, 3);
    cases.push(...queries);
    comparisons.push({ label: `Postgres: Store.query vs raw SQL on the same view table (${QUERY_KEYS} keys)`, subject: queries[0], baseline: queries[1], target: 0.7 });
  } finally {
    await store.close();
    await log.close();
    await keyv.disconnect();
    await pool.end();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-bench-store-'));
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  try {
    await sqlite(dir, cases, comparisons);
    if (process.env.BENCH_STORE_SKIP_PG !== '1') await postgres(cases, comparisons);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report('store', cases, comparisons);
  console.log(`\ndurability settings (the same on both sides of every set comparison):\n${JSON.stringify(settings, null, 2)}`);
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'store.json');
  writeFileSync(file, JSON.stringify({ ...(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>), settings }, null, 2) + '\n');
}

const settings: { sqlite?: { store: string; raw: string }; postgres?: string } = {};

if (import.meta.url === `file://${process.argv[1]}`) await main();
