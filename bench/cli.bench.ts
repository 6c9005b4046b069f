/**
 * Migrating a log: a CLI_EVENTS-event (default 1 000 000) SQLite log into PostgreSQL
 * (DGENT_POSTGRES_URL, default the local service), three ways, taking turns (CLI_ROUNDS rounds,
 * default 3; each into a fresh schema):
 * - `dgent export sqlite:… | dgent import postgres://…` through the built binary, as users run it
 *   (dist/cli/main.js: `npm run build` first)
 * - exportLog → importLog in one process (the API the commands use, without the pipe)
 * - a hand-written raw-driver copy: better-sqlite3 iterating the rows in position order, pg inserting
 *   batches of 5000 with one unnest INSERT each into the same table shape, no decoding (the baseline)
 * Target: the CLI pipe at >= 0.5x the raw copy's rate.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { exportLog, importLog, openLog, readJsonl, type ImportedEvent } from '../src/index.js';
import { report, type CaseResult } from './lib.js';

const URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const EVENTS = Number(process.env.CLI_EVENTS ?? 1_000_000);
const ROUNDS = Number(process.env.CLI_ROUNDS ?? 3);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = process.env.CLI_BIN ?? join(ROOT, 'dist/cli/main.js');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The source: EVENTS events over 1000 streams, written with importLog (fixed ids and times). */
async function makeSource(path: string): Promise<void> {
  const log = await openLog(`sqlite:${path}`);
  const revs = new Map<string, number>();
  const t0 = Date.UTC(2026, 0, 1);
  function* events(): Iterable<ImportedEvent> {
    for (let i = 0; i < EVENTS; i++) {
      const stream = `agent-${i % 1000}`;
      const revision = (revs.get(stream) ?? 0) + 1;
      revs.set(stream, revision);
      yield { id: `ev-${i}`, stream, revision, type: i % 5 === 0 ? '$state' : 'MessageAdded', time: new Date(t0 + i * 10), data: { i, text: `message ${i} of the conversation`, tokens: i % 300, tags: ['a', 'b'] }, metadata: i % 3 === 0 ? { actor: `user-${i % 7}` } : {} };
    }
  }
  await importLog(log, events(), { batchSize: 10_000 });
  await log.close();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** The raw baseline: rows in position order, batches of 5000, one unnest INSERT each, same columns. */
async function rawCopy(sqlitePath: string, schema: string): Promise<void> {
  await admin(async (c) => {
    await c.query(`CREATE SCHEMA "${schema}"`);
    await c.query(`CREATE TABLE "${schema}".events (position bigint PRIMARY KEY, stream text COLLATE "C" NOT NULL, revision integer NOT NULL, id text COLLATE "C" NOT NULL UNIQUE, type text NOT NULL, data json NOT NULL, metadata json NOT NULL, time timestamptz NOT NULL, tx xid8 NOT NULL, UNIQUE (stream, revision))`);
  });
  const db = new Database(sqlitePath, { readonly: true });
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    const rows = db.prepare('SELECT position, stream, revision, id, type, data, metadata, time FROM dgent_events ORDER BY position').raw().iterate() as IterableIterator<[number, string, number, string, string, string, string | null, number]>;
    let batch: [number, string, number, string, string, string, string | null, number][] = [];
    const flush = async (): Promise<void> => {
      await c.query(
        `INSERT INTO "${schema}".events (position, stream, revision, id, type, data, metadata, time, tx)
         SELECT u.p, u.s, u.r, u.i, u.t, u.d::json, coalesce(u.m, '{}')::json, to_timestamp(u.w / 1000.0), pg_current_xact_id()
         FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::float8[]) AS u(p, s, r, i, t, d, m, w)`,
        [batch.map((x) => x[0]), batch.map((x) => x[1]), batch.map((x) => x[2]), batch.map((x) => x[3]), batch.map((x) => x[4]), batch.map((x) => x[5]), batch.map((x) => x[6]), batch.map((x) => x[7])],
      );
      batch = [];
    };
    for (const row of rows) {
      batch.push(row);
      if (batch.length >= 5000) await flush();
    }
    if (batch.length) await flush();
  } finally {
    await c.end();
    db.close();
  }
}

/** The API in one process: exportLog → readJsonl → importLog. */
async function apiCopy(sqlitePath: string, schema: string): Promise<void> {
  const source = await openLog(`sqlite:${sqlitePath}`);
  const target = await openLog(`${URL}?schema=${schema}`);
  try {
    const lines = exportLog(source);
    async function* chunks(): AsyncIterable<string> {
      for await (const l of lines) yield l + '\n';
    }
    await importLog(target, readJsonl(chunks()), { batchSize: 5000 });
  } finally {
    await source.close();
    await target.close();
  }
}

/** The CLI as users run it: two processes and a pipe. */
function cliCopy(sqlitePath: string, schema: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sh = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" export "sqlite:${sqlitePath}" | "${process.execPath}" "${BIN}" import "${URL}?schema=${schema}" --batch-size 5000 --json`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    sh.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`dgent pipe exited with ${code}`));
      const r = JSON.parse(out) as { written: number };
      if (r.written !== EVENTS) return reject(new Error(`dgent import wrote ${r.written} of ${EVENTS}`));
      resolve();
    });
  });
}

async function count(schema: string): Promise<number> {
  return admin(async (c) => Number((await c.query(`SELECT count(*) AS n FROM "${schema}".events`)).rows[0].n));
}

export async function main(): Promise<void> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'dgent-cli-bench-'));
  const source = join(dir, 'source.db');
  const schemas: string[] = [];
  try {
    console.log(`  making a ${EVENTS}-event SQLite log...`);
    await makeSource(source);
    const cases: [string, (s: string) => Promise<void>][] = [
      ['raw driver copy (better-sqlite3 -> pg unnest batches)', (s) => rawCopy(source, s)],
      ['dgent export | dgent import (CLI pipe)', (s) => cliCopy(source, s)],
      ['exportLog -> importLog (API, one process)', (s) => apiCopy(source, s)],
    ];
    const runs: number[][] = cases.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      for (let k = 0; k < cases.length; k++) {
        const i = (k + r) % cases.length;
        const schema = `dgent_clibench_${process.pid}_${r}_${i}`;
        schemas.push(schema);
        const t0 = process.hrtime.bigint();
        await cases[i]![1](schema);
        const rate = EVENTS / (Number(process.hrtime.bigint() - t0) / 1e9);
        if ((await count(schema)) !== EVENTS) throw new Error(`${cases[i]![0]}: the target holds ${await count(schema)} events`);
        runs[i]!.push(rate);
        console.log(`  ${cases[i]![0]}: ${Math.round(rate)} events/s`);
        await admin((c) => c.query(`DROP SCHEMA "${schema}" CASCADE`));
      }
    }
    const results: CaseResult[] = cases.map(([name], i) => ({ name, opsPerSec: median(runs[i]!), runs: runs[i]!, ops: EVENTS }));
    report('cli', results, [
      { label: 'CLI pipe vs raw driver copy', subject: results[1]!, baseline: results[0]!, target: 0.5 },
      { label: 'API vs raw driver copy', subject: results[2]!, baseline: results[0]! },
    ]);
  } finally {
    await admin(async (c) => {
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
