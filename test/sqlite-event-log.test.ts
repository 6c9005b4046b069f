/**
 * SqliteEventLog beyond the contract: the file it writes (WAL, schema), group commit (shared
 * transaction, per-append checks), in-transaction hooks writing views, hostile names, a locked or
 * damaged file, and a property that group commit gives exactly the outcome of sequential appends.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendUnavailableError, ConcurrencyError, CorruptionError, ValidationError } from '../src/core/errors.js';
import type { ExpectedRevision, RecordedEvent } from '../src/streams/event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { collect, events } from '../src/testing/event-log-support.js';

const dirs: string[] = [];
const logs: SqliteEventLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempPath(name = 'events.db'): string {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-'));
  dirs.push(dir);
  return join(dir, name);
}

function open(options: Partial<ConstructorParameters<typeof SqliteEventLog>[0]> = {}): SqliteEventLog {
  const log = new SqliteEventLog({ path: tempPath(), ...options });
  logs.push(log);
  return log;
}

describe('SqliteEventLog: the file', () => {
  it('the first append creates the directory and a WAL-mode file with the events table', async () => {
    const path = join(tempPath(), '..', 'nested', 'deeper', 'log.db');
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await log.append('s', events(2));
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare('SELECT stream, revision, position, type FROM dgent_events ORDER BY position').all()).toEqual([
        { stream: 's', revision: 1, position: 1, type: 'Tick' },
        { stream: 's', revision: 2, position: 2, type: 'Tick' },
      ]);
    } finally {
      db.close();
    }
  });

  it('the constructor rejects a missing or in-memory path and bad options with ValidationError', () => {
    for (const bad of [{}, { path: '' }, { path: ':memory:' }, { path: tempPath(), synchronous: 'OFF' }, { path: tempPath(), busyTimeoutMs: -1 }, { path: tempPath(), pageSize: 0 }]) {
      expect(() => new SqliteEventLog(bad as never)).toThrow(ValidationError);
    }
  });

  it('a file that is not a SQLite database throws CorruptionError and is left byte for byte as it was', async () => {
    const path = tempPath();
    const garbage = Buffer.from('this is not a database, but it is somebody\'s data '.repeat(200));
    writeFileSync(path, garbage);
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await expect(log.append('s', events(1))).rejects.toBeInstanceOf(CorruptionError);
    await expect(log.revision('s')).rejects.toBeInstanceOf(CorruptionError);
    expect(readFileSync(path).equals(garbage)).toBe(true);
  });

  it('a file with a newer schema version throws CorruptionError instead of being misread', async () => {
    const path = tempPath();
    const first = new SqliteEventLog({ path });
    await first.append('s', events(1));
    await first.close();
    const db = new Database(path);
    db.prepare("UPDATE dgent_meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await expect(log.revision('s')).rejects.toThrow(/schema version 99/);
  });

  it('a stored event whose data is damaged makes read throw CorruptionError naming its position; the row is left as it was', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await log.append('s', events(3));
    const db = new Database(path);
    db.prepare("UPDATE dgent_events SET data = '{\"n\": 2' WHERE position = 2").run();
    db.close();
    await expect(collect(log.read('s'))).rejects.toThrow(CorruptionError);
    await expect(collect(log.readAll())).rejects.toThrow(/position 2/);
    expect(await collect(log.read('s', { toRevision: 1 }))).toHaveLength(1);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT data FROM dgent_events WHERE position = 2').pluck().get()).toBe('{"n": 2');
    check.close();
  });

  it('hostile stream names and types are stored as values: the table survives and they read back', async () => {
    const log = open();
    const names = ["'; DROP TABLE dgent_events; --", 'a" OR 1=1 --', '../../etc/passwd', '%_*?[]', 'x\u2028y😀'];
    for (const n of names) await log.append(n, [{ type: n, data: { n } }]);
    for (const n of names) {
      const [e] = await collect(log.read(n));
      expect(e).toMatchObject({ stream: n, type: n, data: { n }, revision: 1 });
    }
    expect(await collect(log.readAll({ types: [names[0]!] }))).toHaveLength(1);
  });
});

describe('SqliteEventLog: group commit', () => {
  it('16 appends issued in one tick commit in one transaction: no hook sees another of them committed', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await log.append('warm-up', events(1));
    const outside = new Database(path, { readonly: true });
    const visible: number[] = [];
    log.onAppend(() => void visible.push(outside.prepare('SELECT count(*) FROM dgent_events').pluck().get() as number));
    try {
      const results = await Promise.all(Array.from({ length: 16 }, (_, i) => log.append(`s${i}`, events(1))));
      expect(visible).toEqual(Array(16).fill(1));
      expect(results.map((r) => r.position)).toEqual(Array.from({ length: 16 }, (_, i) => i + 2));
    } finally {
      outside.close();
    }
  });

  it('in one group without hooks (no savepoints), appends with a stale expectedRevision or a reused id fail alone', async () => {
    const log = open();
    await log.append('s', events(1));
    await log.append('ids', [{ id: 'taken', type: 'T', data: 0 }]);
    const settled = await Promise.allSettled([
      log.append('s', events(2, 'A'), { expectedRevision: 1 }),
      log.append('s', events(2, 'B'), { expectedRevision: 1 }),
      log.append('u', [{ id: 'fresh', type: 'T', data: 1 }, { id: 'taken', type: 'T', data: 1 }]),
      log.append('t', events(2, 'C'), { expectedRevision: 'no_stream' }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((await collect(log.readAll())).map((e) => `${e.stream}${e.revision}:${e.type}`)).toEqual(['s1:Tick', 'ids1:T', 's2:A', 's3:A', 't1:C', 't2:C']);
  });

  it('in one group, an append with a stale expectedRevision, one whose hook throws and one reusing an id fail alone', async () => {
    const log = open();
    await log.append('s', events(1));
    await log.append('ids', [{ id: 'taken', type: 'T', data: 0 }]);
    log.onAppend((evs) => {
      if (evs.some((e) => e.type === 'Veto')) throw new RangeError('vetoed');
    });
    const settled = await Promise.allSettled([
      log.append('s', events(1, 'A'), { expectedRevision: 1 }),
      log.append('s', events(1, 'B'), { expectedRevision: 1 }),
      log.append('t', events(1, 'Veto')),
      log.append('u', [{ id: 'taken', type: 'T', data: 1 }]),
      log.append('t', events(2, 'C'), { expectedRevision: 'no_stream' }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled']);
    const reasons = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined));
    expect(reasons[1]).toMatchObject({ constructor: ConcurrencyError, expected: 1, actual: 2 });
    expect(reasons[2]).toBeInstanceOf(RangeError);
    expect(reasons[3]).toBeInstanceOf(ValidationError);
    expect((await collect(log.readAll())).map((e) => `${e.stream}${e.revision}:${e.type}`)).toEqual(['s1:Tick', 'ids1:T', 's2:A', 't1:C', 't2:C']);
  });

  it('an onAppend hook writes a view with tx.db in the append transaction; a later throwing hook rolls the view write back too', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await log.append('init', events(1));
    let created = false;
    log.onAppend((evs, tx) => {
      if (!created) tx.db.exec('CREATE TABLE IF NOT EXISTS view_counts (stream TEXT PRIMARY KEY, n INTEGER NOT NULL)');
      created = true;
      const up = tx.db.prepare('INSERT INTO view_counts (stream, n) VALUES (?, 1) ON CONFLICT (stream) DO UPDATE SET n = n + 1');
      for (const e of evs) up.run(e.stream);
    });
    log.onAppend(async (evs) => {
      await new Promise((r) => setTimeout(r, 1)); // an async hook keeps the transaction open across a wait
      if (evs.some((e) => e.type === 'Bad')) throw new Error('second hook refuses');
    });
    await log.append('a', events(3));
    await expect(log.append('a', events(2, 'Bad'))).rejects.toThrow('second hook refuses');
    await log.append('b', events(1));
    const db = new Database(path, { readonly: true });
    try {
      expect(db.prepare('SELECT stream, n FROM view_counts ORDER BY stream').all()).toEqual([
        { stream: 'a', n: 3 },
        { stream: 'b', n: 1 },
      ]);
    } finally {
      db.close();
    }
    expect(await log.revision('a')).toBe(3);
  });

  it('appends issued in one tick give the same results as the same appends on MemoryEventLog (property)', async () => {
    const expectation = fc.oneof(
      fc.constantFrom<ExpectedRevision>('any', 'no_stream', 'stream_exists'),
      fc.integer({ min: 0, max: 4 }),
    );
    const append = fc.record({ stream: fc.constantFrom('a', 'b', 'c'), n: fc.integer({ min: 1, max: 3 }), expected: expectation });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(append, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 4 }), async (rounds) => {
        const sqlite = new SqliteEventLog({ path: tempPath() });
        const memory = new MemoryEventLog();
        try {
          for (const round of rounds) {
            const run = (log: SqliteEventLog | MemoryEventLog) =>
              Promise.allSettled(round.map((a) => log.append(a.stream, events(a.n), { expectedRevision: a.expected }))).then((rs) =>
                rs.map((r) => (r.status === 'fulfilled' ? r.value : { error: (r.reason as ConcurrencyError).actual })),
              );
            expect(await run(sqlite)).toEqual(await run(memory));
          }
          const shape = (e: RecordedEvent) => [e.stream, e.revision, e.position, e.data];
          expect((await collect(sqlite.readAll())).map(shape)).toEqual((await collect(memory.readAll())).map(shape));
        } finally {
          await sqlite.close();
          await memory.close();
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('SqliteEventLog: remembered stream heads', () => {
  it('append after another connection wrote to the stream sees that write (its remembered head is dropped)', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path });
    logs.push(log);
    await log.append('s', events(1));
    await log.append('s', events(1), { expectedRevision: 1 });
    const other = new Database(path);
    other.prepare("INSERT INTO dgent_events (stream, revision, id, type, data, metadata, time) VALUES ('s', 3, 'outside', 'T', '1', NULL, 0)").run();
    other.close();
    await expect(log.append('s', events(1), { expectedRevision: 2 })).rejects.toMatchObject({ constructor: ConcurrencyError, actual: 3 });
    expect(await log.append('s', events(1), { expectedRevision: 3 })).toMatchObject({ revision: 4 });
  });

  it('a rolled-back append is not remembered: the next append continues from what was committed', async () => {
    const log = open();
    await log.append('s', events(2));
    const off = log.onAppend(() => {
      throw new Error('no');
    });
    await expect(log.appendMany([{ stream: 's', events: events(3) }, { stream: 't', events: events(1) }])).rejects.toThrow('no');
    off();
    expect(await log.append('s', events(1), { expectedRevision: 2 })).toMatchObject({ revision: 3 });
    expect(await log.append('t', events(1), { expectedRevision: 'no_stream' })).toMatchObject({ revision: 1 });
  });
});

describe('SqliteEventLog: a locked file', () => {
  it('append waits while another connection holds the write lock and succeeds once it is released', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path, busyTimeoutMs: 20_000 });
    logs.push(log);
    await log.append('s', events(1));
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const pending = log.append('s', events(1), { expectedRevision: 1 });
    let settled = false;
    void pending.finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false);
    other.exec('COMMIT');
    other.close();
    expect(await pending).toMatchObject({ revision: 2 });
  });

  it('append on a file locked longer than busyTimeoutMs throws BackendUnavailableError, never a raw SQLITE_BUSY, and stores nothing', async () => {
    const path = tempPath();
    const log = new SqliteEventLog({ path, busyTimeoutMs: 100 });
    logs.push(log);
    await log.append('s', events(1));
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    try {
      const results = await Promise.allSettled([log.append('s', events(1)), log.append('t', events(1))]);
      for (const r of results) {
        expect(r.status).toBe('rejected');
        expect((r as PromiseRejectedResult).reason).toBeInstanceOf(BackendUnavailableError);
      }
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(await log.revision('s')).toBe(1);
    expect(await log.append('s', events(1), { expectedRevision: 1 })).toMatchObject({ revision: 2 });
  });
});
