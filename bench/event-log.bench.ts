/**
 * SqliteEventLog beside what it wraps, in one run:
 * - raw better-sqlite3 on the same table and the same pragmas (WAL, synchronous = NORMAL): an
 *   autocommit INSERT per event, 100 INSERTs in one transaction, a prepared SELECT + JSON.parse
 * - Emmett's SQLite event store (@event-driven-io/emmett-sqlite, node-sqlite3, its own defaults)
 *
 * Targets (ratios): sequential single append >= 0.7x raw autocommit insert; 16 concurrent
 * appenders >= 2x raw autocommit insert (group commit); batches of 100 >= 0.7x raw batched;
 * sequential append >= 20x Emmett; readAll + decode >= 0.7x raw SELECT + JSON.parse.
 * The raw baseline also generates a UUID and JSON text per event: the work any event store does.
 * It uses time-ordered UUID v7 ids like SqliteEventLog (same inserts); one more raw row with random
 * v4 ids shows what that design choice is worth on the UNIQUE id index.
 *
 * StreamAgent load/loadAt over a long stream (with and without snapshots) is in stream-agent.bench.ts.
 *
 * Files go to a temp directory (DGENT_BENCH_DIR to choose the disk); BENCH_EVENTS scales the runs.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
// not yet exported from src/index.ts when this bench was written
import { uuidV7 } from '../src/core/uuid-v7.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';

/** The same table as SqliteEventLog's (src/streams/sqlite/schema.ts), for the raw baseline. */
const DDL = `
CREATE TABLE IF NOT EXISTS dgent_events (
  position INTEGER PRIMARY KEY, stream TEXT NOT NULL, revision INTEGER NOT NULL, id TEXT NOT NULL,
  type TEXT NOT NULL, data TEXT NOT NULL, metadata TEXT, time INTEGER NOT NULL, UNIQUE (stream, revision)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS dgent_events_id ON dgent_events (id);`;

/** A typical small event: a chat turn with some bookkeeping (~150 bytes of JSON). */
function payload(i: number): { role: string; text: string; tokens: number; at: number } {
  return { role: i % 2 ? 'assistant' : 'user', text: `message number ${i} with a little text in it`, tokens: 12 + (i % 50), at: 1_700_000_000_000 + i };
}

/** Raw better-sqlite3 with SqliteEventLog's pragmas, doing the inserts and selects by hand. */
function rawStore(path: string, newId: () => string = uuidV7) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(DDL);
  const insert = db.prepare('INSERT INTO dgent_events (stream, revision, id, type, data, metadata, time) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const select = db.prepare('SELECT position, stream, revision, id, type, data, metadata, time FROM dgent_events WHERE position > ? ORDER BY position LIMIT ?').raw();
  const revisions = new Map<string, number>();
  const one = (stream: string, data: unknown): void => {
    const revision = (revisions.get(stream) ?? 0) + 1;
    revisions.set(stream, revision);
    insert.run(stream, revision, newId(), 'Said', JSON.stringify(data), null, Date.now());
  };
  const batch = db.transaction((stream: string, items: readonly unknown[]) => {
    let revision = revisions.get(stream) ?? 0;
    const time = Date.now();
    for (const d of items) insert.run(stream, ++revision, newId(), 'Said', JSON.stringify(d), null, time);
    revisions.set(stream, revision);
  });
  return { db, one, batch, select };
}

interface Case {
  name: string;
  ops: number;
  fn: () => Promise<void> | void;
}

/**
 * Measure cases in alternation, one run of each per round (after one warm-up each), so that a
 * machine getting busier or quieter during the run (CI, shared cores) affects subject and baseline
 * alike. The median over the rounds is reported.
 */
async function interleaved(cases: readonly Case[], rounds = Number(process.env.BENCH_REPEAT ?? 5)): Promise<CaseResult[]> {
  const runs = cases.map(() => [] as number[]);
  for (let r = 0; r < rounds; r++) {
    for (const [i, c] of cases.entries()) {
      const one = await measure(c.name, c.ops, c.fn, 1);
      runs[i]!.push(one.runs[0]!);
    }
  }
  return cases.map((c, i) => {
    const sorted = [...runs[i]!].sort((a, b) => a - b);
    return { name: c.name, ops: c.ops, runs: runs[i]!, opsPerSec: sorted[Math.floor(sorted.length / 2)]! };
  });
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-bench-log-'));
  const N = Number(process.env.BENCH_EVENTS ?? 5_000);
  const EMMETT_N = Math.max(50, Math.floor(N / 20));
  const READ_N = N * 10;
  const events = Array.from({ length: 100 }, (_, i) => ({ type: 'Said', data: payload(i) }));
  const datas = events.map((e) => e.data);
  let round = 0;
  try {
    // --- appends: raw baseline and SqliteEventLog, on separate files -------------------------------
    const raw = rawStore(join(dir, 'raw.db'));
    const rawV4 = rawStore(join(dir, 'raw-v4.db'), randomUUID);
    const log = new SqliteEventLog({ path: join(dir, 'dgent.db') });
    const [rawSingle, rawBatch, rawSingleV4, single, concurrent, batched] = await interleaved([
      {
        name: 'raw better-sqlite3: autocommit INSERT per event',
        ops: N,
        fn: () => {
          const s = `raw-${round++}`;
          for (let i = 0; i < N; i++) raw.one(s, datas[i % 100]);
        },
      },
      {
        name: 'raw better-sqlite3: 100 INSERTs per transaction',
        ops: N,
        fn: () => {
          const s = `raw-batch-${round++}`;
          for (let i = 0; i < N; i += 100) raw.batch(s, datas);
        },
      },
      {
        name: 'raw better-sqlite3: autocommit INSERT per event, random v4 ids',
        ops: N,
        fn: () => {
          const s = `raw-v4-${round++}`;
          for (let i = 0; i < N; i++) rawV4.one(s, datas[i % 100]);
        },
      },
      {
        name: 'SqliteEventLog: sequential single-event append',
        ops: N,
        fn: async () => {
          const s = `seq-${round++}`;
          for (let i = 0; i < N; i++) await log.append(s, [events[i % 100]!]);
        },
      },
      {
        name: 'SqliteEventLog: 16 concurrent single-event appenders',
        ops: N,
        fn: async () => {
          const r = round++;
          await Promise.all(
            Array.from({ length: 16 }, async (_, w) => {
              for (let i = w; i < N; i += 16) await log.append(`conc-${r}-${w}`, [events[i % 100]!]);
            }),
          );
        },
      },
      {
        name: 'SqliteEventLog: append batches of 100',
        ops: N,
        fn: async () => {
          const s = `batch-${round++}`;
          for (let i = 0; i < N; i += 100) await log.append(s, events);
        },
      },
    ]);
    await log.close();
    rawV4.db.close();
    raw.db.close();

    // --- reads: the same READ_N events in both files -------------------------------------------
    const readRaw = rawStore(join(dir, 'raw-read.db'));
    for (let i = 0; i < READ_N; i += 100) readRaw.batch(`r${i % 1000}`, datas);
    const readLog = new SqliteEventLog({ path: join(dir, 'dgent-read.db') });
    for (let i = 0; i < READ_N; i += 100) await readLog.append(`r${i % 1000}`, events);
    const [rawRead, logRead] = await interleaved([
      {
        // pages of 512 rows: faster than one .all() or .iterate() over everything (measured)
        name: 'raw better-sqlite3: prepared SELECT in pages of 512 + JSON.parse',
        ops: READ_N,
        fn: () => {
          let n = 0;
          let last = 0;
          for (;;) {
            const rows = readRaw.select.all(last, 512) as unknown[][];
            if (rows.length === 0) break;
            for (const row of rows) if (JSON.parse(row[5] as string) !== null) n++;
            last = rows[rows.length - 1]![0] as number;
          }
          if (n !== READ_N) throw new Error(`raw read ${n} of ${READ_N}`);
        },
      },
      {
        name: 'SqliteEventLog: readAll + decode',
        ops: READ_N,
        fn: async () => {
          let n = 0;
          for await (const e of readLog.readAll()) if (e.data !== null) n++;
          if (n !== READ_N) throw new Error(`readAll read ${n} of ${READ_N}`);
        },
      },
    ]);
    await readLog.close();
    readRaw.db.close();

    // --- Emmett ---------------------------------------------------------------------------------
    const { getSQLiteEventStore } = await import('@event-driven-io/emmett-sqlite');
    const emmett = getSQLiteEventStore({ fileName: join(dir, 'emmett.db'), schema: { autoMigration: 'CreateOrUpdate' } });
    // emmett-sqlite 0.38.5 sometimes fails a COMMIT with SQLITE_BUSY "SQL statements in progress" (an
    // INSERT ... RETURNING read with db.get is left unfinalised); it rolls back, so retry as a user would
    let emmettRetries = 0;
    const emmettAppend = async (stream: string, event: (typeof events)[number]): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await emmett.appendToStream(stream, [event]);
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== 'SQLITE_BUSY' || attempt >= 5) throw e;
          emmettRetries++;
        }
      }
    };
    // Emmett leaves SQLite's default synchronous = FULL (an fsync per commit): the same durability from dgent
    const full = new SqliteEventLog({ path: join(dir, 'dgent-full.db'), synchronous: 'FULL' });
    const [emmettSingle, singleFull] = await interleaved([
      {
        name: 'Emmett SQLite: sequential single-event appendToStream',
        ops: EMMETT_N,
        fn: async () => {
          const s = `emmett-${round++}`;
          for (let i = 0; i < EMMETT_N; i++) await emmettAppend(s, events[i % 100]!);
        },
      },
      {
        name: "SqliteEventLog synchronous 'FULL': sequential single-event append",
        ops: EMMETT_N,
        fn: async () => {
          const s = `full-${round++}`;
          for (let i = 0; i < EMMETT_N; i++) await full.append(s, [events[i % 100]!]);
        },
      },
    ]);
    await full.close();
    if (emmettRetries > 0) console.log(`(Emmett: ${emmettRetries} appends retried after its SQLITE_BUSY on COMMIT)`);

    const cases: CaseResult[] = [rawSingle!, rawBatch!, rawSingleV4!, single!, concurrent!, batched!, rawRead!, logRead!, emmettSingle!, singleFull!];
    const comparisons: Comparison[] = [
      { label: 'sequential single append vs raw autocommit INSERT', subject: single!, baseline: rawSingle!, target: 0.7 },
      { label: '16 concurrent appenders vs raw autocommit INSERT', subject: concurrent!, baseline: rawSingle!, target: 2 },
      { label: 'batches of 100 vs raw 100 INSERTs per transaction', subject: batched!, baseline: rawBatch!, target: 0.7 },
      { label: 'sequential single append vs Emmett SQLite appendToStream', subject: single!, baseline: emmettSingle!, target: 20 },
      { label: 'readAll + decode vs raw SELECT + JSON.parse', subject: logRead!, baseline: rawRead!, target: 0.7 },
      { label: "sequential single append, both synchronous 'FULL', vs Emmett SQLite", subject: singleFull!, baseline: emmettSingle! },
      { label: 'raw autocommit INSERT: time-ordered v7 ids vs random v4 ids', subject: rawSingle!, baseline: rawSingleV4! },
    ];
    report('event-log', cases, comparisons);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
