/**
 * DgentStore beside LangGraph's PostgresStore (`@langchain/langgraph-checkpoint-postgres/store`) on
 * the same PostgreSQL server (DGENT_POSTGRES_URL, default the local one), and DgentStore on SQLite
 * (a file) beside LangGraph's InMemoryStore (for scale only: it keeps nothing):
 * - put: an update of one of 1,000 items (~200 B values); DgentStore appends an event and maintains
 *   the KV, versions and audit views inline;
 * - get: one item by key;
 * - search: `filter: { age: { $gte: 90 } }, limit: 10` in a namespace of 1,000 items (DgentStore runs
 *   the filter as SQL; PostgresStore too).
 * Sequential calls in rotating short rounds (paired.ts); medians. No embeddings (no network).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { InMemoryStore, type BaseStore } from '@langchain/langgraph-checkpoint';
import { PostgresStore } from '@langchain/langgraph-checkpoint-postgres/store';
import { SqliteEventLog } from '../src/index.js';
import { DgentStore } from '../src/langgraph.js';
import { PostgresEventLog } from '../src/postgres.js';
import { report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';

const N = 100;
const ITEMS = 1000;
const NS = ['users', 'u1', 'memories'];
const value = (i: number) => ({ name: `user ${i}`, age: i % 97, email: `user${i}@example.com`, tags: ['a', 'b'], bio: 'x'.repeat(100) });
const PG_URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function fill(store: BaseStore): Promise<void> {
  for (let i = 0; i < ITEMS; i += 100) await store.batch(Array.from({ length: 100 }, (_, j) => ({ namespace: NS, key: `k${i + j}`, value: value(i + j) })));
}

function rounds(label: string, store: BaseStore) {
  let n = 0;
  const key = () => `k${(n = (n * 7 + 13) % ITEMS)}`;
  return {
    put: [`put (${label})`, N, async () => { for (let i = 0; i < N; i++) await store.put(NS, key(), value(n)); }] as [string, number, () => Promise<void>],
    get: [`get (${label})`, N, async () => { for (let i = 0; i < N; i++) await store.get(NS, key()); }] as [string, number, () => Promise<void>],
    search: [`search filter+limit 10 (${label})`, N / 5, async () => { for (let i = 0; i < N / 5; i++) await store.search(['users'], { filter: { age: { $gte: 90 } }, limit: 10 }); }] as [string, number, () => Promise<void>],
  };
}

export async function main(): Promise<void> {
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-lgstore-bench-'));
  const schema = `lgsbench_${process.pid}`;
  const pgSchema = `lgsbench_lg_${process.pid}`;
  const sqliteLog = new SqliteEventLog({ path: join(dir, 'store.db') });
  const pgLog = new PostgresEventLog({ connectionString: PG_URL, schema });
  const dSqlite = new DgentStore({ log: sqliteLog });
  const dPg = new DgentStore({ log: pgLog });
  const lgMem = new InMemoryStore();
  const lgPg = new PostgresStore({ connectionOptions: PG_URL, schema: pgSchema, ensureTables: true });
  try {
    await lgPg.start();
    for (const s of [dSqlite, dPg, lgMem, lgPg]) await fill(s);
    const a = rounds('DgentStore, PostgreSQL', dPg);
    const b = rounds('PostgresStore', lgPg);
    const c = rounds('DgentStore, SQLite', dSqlite);
    const d = rounds('InMemoryStore', lgMem);
    for (const op of ['put', 'get', 'search'] as const) {
      const [x, y] = await paired([a[op], b[op]]);
      const [z, w] = await paired([c[op], d[op]]);
      cases.push(x, y, z, w);
      comparisons.push({ label: `${op}: DgentStore (PostgreSQL) vs PostgresStore`, subject: x, baseline: y });
      comparisons.push({ label: `${op}: DgentStore (SQLite) vs InMemoryStore (scale only)`, subject: z, baseline: w });
    }
  } finally {
    await dSqlite.stop();
    await dPg.stop();
    await lgPg.stop();
    await sqliteLog.close();
    await pgLog.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    for (const s of [schema, pgSchema]) await client.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  }
  report('langgraph-store', cases, comparisons);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
