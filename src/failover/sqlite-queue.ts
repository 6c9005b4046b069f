/**
 * SqliteQueue: the embedded, compacted queue of `'primary-then-queue'`, in its own SQLite file
 * (WAL, `synchronous` NORMAL by default: an entry that was written survives `kill -9`; `'FULL'`
 * also survives power loss).
 *
 * Three tables per file, shared by every queue name: `failover_entries (queue, seq, data,
 * cancelled)`, `failover_cursors (queue, backend, cursor, pending)` and `failover_heads (queue,
 * head)`. Compaction deletes the entries every backend has applied in the same transaction that
 * saves their cursors, so a crash at any point loses nothing; SQLite reuses the freed pages, so
 * the file stays as large as the largest backlog, not the number of writes ever queued.
 *
 * @example
 * ```ts
 * const queue = new SqliteQueue({ path: 'queue.db' });
 * const store = fallback([new Store({ log: pgLog }), new Store({ log: new SqliteEventLog({ path: 'local.db' }) })], {
 *   writes: 'primary-then-queue',
 *   queue,
 * });
 * ```
 */
import { decode, encode } from '../core/codec.js';
import { ClosedError, ValidationError, shown } from '../core/errors.js';
import { openConnection, withBusyRetry, type SqliteDatabase } from '../streams/sqlite/connection.js';
import type { QueueCursor, QueueEntry, QueueSnapshot, QueueStore } from './queue-store.js';
import type { Token } from './target.js';

/** Options of {@link SqliteQueue}. */
export interface SqliteQueueOptions {
  /** the database file (created with its directory when missing) */
  path: string;
  /** `'NORMAL'` (default): survives a process crash; `'FULL'`: also power loss (an fsync per commit) */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
  /** how long to wait for a file locked by another connection before BackendUnavailableError (default 5000) */
  busyTimeoutMs?: number | undefined;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS failover_heads (queue TEXT PRIMARY KEY, head INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failover_entries (queue TEXT NOT NULL, seq INTEGER NOT NULL, data TEXT NOT NULL, cancelled INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (queue, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failover_cursors (queue TEXT NOT NULL, backend TEXT NOT NULL, cursor INTEGER NOT NULL, pending TEXT, PRIMARY KEY (queue, backend)) WITHOUT ROWID;
`;

/** The queue of `'primary-then-queue'` in a SQLite file; see the file comment. Yours to close. */
export class SqliteQueue implements QueueStore {
  readonly path: string;
  private readonly synchronous: 'NORMAL' | 'FULL';
  private readonly busyTimeoutMs: number;
  private db: Promise<SqliteDatabase> | undefined;
  private closed = false;

  constructor(options: SqliteQueueOptions) {
    if (typeof options !== 'object' || options === null || typeof options.path !== 'string' || options.path.length === 0) throw new ValidationError('SqliteQueue needs { path }');
    this.path = options.path;
    this.synchronous = options.synchronous ?? 'NORMAL';
    if (this.synchronous !== 'NORMAL' && this.synchronous !== 'FULL') throw new ValidationError(`synchronous must be 'NORMAL' or 'FULL', got ${shown(options.synchronous)}`);
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    if (!Number.isFinite(this.busyTimeoutMs) || this.busyTimeoutMs < 0) throw new ValidationError(`busyTimeoutMs must be a number >= 0, got ${shown(options.busyTimeoutMs)}`);
  }

  private async conn(): Promise<SqliteDatabase> {
    if (this.closed) throw new ClosedError('SqliteQueue');
    this.db ??= (async () => {
      const db = await openConnection({ path: this.path, synchronous: this.synchronous, busyTimeoutMs: this.busyTimeoutMs }, 'writer');
      // the WAL file is cut back after each checkpoint, so it stays bounded too
      db.pragma('journal_size_limit = 1048576');
      db.exec(SCHEMA);
      return db;
    })();
    this.db.catch(() => (this.db = undefined));
    return this.db;
  }

  private async run<T>(fn: (db: SqliteDatabase) => T): Promise<T> {
    const db = await this.conn();
    return withBusyRetry(() => fn(db), this.busyTimeoutMs, this.path);
  }

  async load(queue: string, backends: readonly string[]): Promise<QueueSnapshot> {
    return this.run((db) => {
      const head = (db.prepare('SELECT head FROM failover_heads WHERE queue = ?').pluck().get(queue) as number | undefined) ?? 0;
      const first = db.prepare('SELECT min(seq) FROM failover_entries WHERE queue = ?').pluck().get(queue) as number | null;
      const cancelled = db.prepare('SELECT seq FROM failover_entries WHERE queue = ? AND cancelled = 1 ORDER BY seq').pluck().all(queue) as number[];
      const rows = db.prepare('SELECT backend, cursor, pending FROM failover_cursors WHERE queue = ?').all(queue) as { backend: string; cursor: number; pending: string | null }[];
      const byName = new Map(rows.map((r) => [r.backend, r]));
      const cursors = new Map<string, QueueCursor>();
      for (const b of backends) {
        const r = byName.get(b);
        // a backend never seen: it replays what is still queued
        const c: QueueCursor = { cursor: r ? r.cursor : first === null ? head : first - 1 };
        if (r?.pending) c.pending = decode(r.pending) as { revision: number; tokens: Token[] };
        cursors.set(b, c);
      }
      return { head, cursors, cancelled };
    });
  }

  async append(queue: string, expectedHead: number, data: unknown, done: readonly string[], pending: readonly { backend: string; tokens: Token[] }[]): Promise<number> {
    const text = encode(data);
    return this.run((db) =>
      db.transaction(() => {
        const r = expectedHead + 1;
        const moved = expectedHead === 0
          ? db.prepare('INSERT INTO failover_heads (queue, head) VALUES (?, ?) ON CONFLICT (queue) DO UPDATE SET head = excluded.head WHERE head = 0').run(queue, r).changes
          : db.prepare('UPDATE failover_heads SET head = ? WHERE queue = ? AND head = ?').run(r, queue, expectedHead).changes;
        if (moved !== 1) throw new ValidationError(`write queue ${queue}: another process wrote to it (one process owns a queue)`);
        db.prepare('INSERT INTO failover_entries (queue, seq, data) VALUES (?, ?, ?)').run(queue, r, text);
        const set = db.prepare('INSERT INTO failover_cursors (queue, backend, cursor, pending) VALUES (?, ?, ?, ?) ON CONFLICT (queue, backend) DO UPDATE SET cursor = excluded.cursor, pending = excluded.pending');
        for (const b of done) set.run(queue, b, r, null);
        for (const p of pending) set.run(queue, p.backend, r - 1, encode({ revision: r, tokens: p.tokens }));
        return r;
      })(),
    );
  }

  async read(queue: string, from: number, to: number, limit: number): Promise<QueueEntry[]> {
    return this.run((db) =>
      (db.prepare('SELECT seq, data FROM failover_entries WHERE queue = ? AND seq BETWEEN ? AND ? ORDER BY seq LIMIT ?').all(queue, from, to, limit) as { seq: number; data: string }[]).map((r) => ({
        revision: r.seq,
        data: decode(r.data, `${this.path} ${queue} entry ${r.seq}`),
      })),
    );
  }

  async applying(queue: string, backend: string, revision: number, tokens: Token[]): Promise<void> {
    const text = encode({ revision, tokens });
    await this.run((db) =>
      db.prepare('INSERT INTO failover_cursors (queue, backend, cursor, pending) VALUES (?, ?, ?, ?) ON CONFLICT (queue, backend) DO UPDATE SET cursor = excluded.cursor, pending = excluded.pending').run(queue, backend, revision - 1, text),
    );
  }

  async cancel(queue: string, revision: number): Promise<void> {
    await this.run((db) => db.prepare('UPDATE failover_entries SET cancelled = 1 WHERE queue = ? AND seq = ?').run(queue, revision));
  }

  async compact(queue: string, cursors: readonly { backend: string; cursor: number }[], upTo: number): Promise<void> {
    await this.run((db) =>
      db.transaction(() => {
        const set = db.prepare('INSERT INTO failover_cursors (queue, backend, cursor, pending) VALUES (?, ?, ?, NULL) ON CONFLICT (queue, backend) DO UPDATE SET cursor = excluded.cursor, pending = NULL');
        for (const c of cursors) set.run(queue, c.backend, c.cursor);
        this.dropEntries(db, queue, upTo);
      })(),
    );
  }

  /** The delete step of compaction, inside its transaction (a seam for the crash test). */
  protected dropEntries(db: SqliteDatabase, queue: string, upTo: number): void {
    db.prepare('DELETE FROM failover_entries WHERE queue = ? AND seq <= ?').run(queue, upTo);
  }

  async size(queue: string): Promise<number> {
    return this.run((db) => db.prepare('SELECT count(*) FROM failover_entries WHERE queue = ?').pluck().get(queue) as number);
  }

  /** Close the file (the queue stays in it for the next process). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const db = await this.db?.catch(() => undefined);
    db?.close();
  }
}
