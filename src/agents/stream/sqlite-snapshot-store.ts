/**
 * SqliteSnapshotStore: StreamAgent snapshots in a SQLite table (better-sqlite3), in their own file
 * or beside an event log's tables in the same file. The table is separate from every event table,
 * so snapshots never appear in reads or projections, and dropping it loses nothing but speed.
 *
 * @example
 * ```ts
 * const snapshots = new SqliteSnapshotStore({ path: './data/snapshots.db' });
 * const agent = new StreamAgent({ log, stream: 'cart-1', initial, fold, snapshotEvery: 100, snapshots });
 * ```
 */
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteStatement } from '../../streams/sqlite/driver-types.js';
import { ClosedError, CorruptionError, ValidationError, shown } from '../../core/errors.js';
import { ensureParentDir } from '../../core/fs-errors.js';
import { maxRevisionOf, validateSnapshot, type SnapshotInfo, type SnapshotQuery, type SnapshotRecord, type SnapshotStore } from './snapshot-store.js';

/** Options of {@link SqliteSnapshotStore}: a database file, or an open better-sqlite3 connection. */
export type SqliteSnapshotStoreOptions = ({ path: string; db?: undefined } | { db: SqliteDatabase; path?: undefined }) & {
  /** table name (default `dgent_snapshots`); letters, digits and `_` only */
  table?: string | undefined;
  /** SQLite `synchronous` for a connection opened here (default NORMAL: snapshots are a rebuildable cache) */
  synchronous?: 'OFF' | 'NORMAL' | 'FULL' | undefined;
};

interface Row {
  stream: string;
  revision: number;
  version: string;
  time: number;
  event_id: string;
  state?: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A {@link SnapshotStore} in a SQLite table; statements are prepared once and values bound. */
export class SqliteSnapshotStore implements SnapshotStore {
  private readonly db: SqliteDatabase;
  private readonly owned: boolean;
  private readonly stmts: {
    get: SqliteStatement<[string, string, number], Row>;
    put: SqliteStatement<[string, string, number, number, string, string]>;
    list: SqliteStatement<[string], Row>;
    del: SqliteStatement<[string]>;
  };
  private closed = false;

  constructor(options: SqliteSnapshotStoreOptions) {
    const table = options.table ?? 'dgent_snapshots';
    if (!IDENT.test(table)) throw new ValidationError(`table must match ${String(IDENT)}, got ${JSON.stringify(table)}`);
    const sync = options.synchronous ?? 'NORMAL';
    if (!['OFF', 'NORMAL', 'FULL'].includes(sync)) throw new ValidationError(`synchronous must be OFF, NORMAL or FULL, got ${shown(sync)}`);
    if (options.db) {
      this.db = options.db;
      this.owned = false;
    } else {
      if (typeof options.path !== 'string' || options.path.length === 0) throw new ValidationError('SqliteSnapshotStore needs { path } or { db }');
      if (options.path !== ':memory:' && !options.path.startsWith('file:')) {
        // a database file may be given in a directory that does not exist yet, as for the event logs
        ensureParentDir(options.path, 'SqliteSnapshotStore');
        if (statSync(options.path, { throwIfNoEntry: false })?.isDirectory()) {
          throw new ValidationError(`SqliteSnapshotStore: ${options.path} is a directory; path must name a database file`, [{ message: 'is a directory', path: options.path }]);
        }
      }
      this.db = new Database(options.path);
      this.owned = true;
    }
    try {
      if (this.owned) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma(`synchronous = ${sync}`);
        this.db.pragma('busy_timeout = 5000');
      }
      // IF NOT EXISTS keeps this idempotent when several processes open the same file at once
      this.db.exec(
        `CREATE TABLE IF NOT EXISTS "${table}" (stream TEXT NOT NULL, version TEXT NOT NULL, revision INTEGER NOT NULL, ` +
          `time INTEGER NOT NULL, event_id TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (stream, version, revision))`,
      );
      this.stmts = {
        get: this.db.prepare(
          `SELECT stream, revision, version, time, event_id, state FROM "${table}" WHERE stream = ? AND version = ? AND revision <= ? ORDER BY revision DESC LIMIT 1`,
        ),
        put: this.db.prepare(`INSERT OR REPLACE INTO "${table}" (stream, version, revision, time, event_id, state) VALUES (?, ?, ?, ?, ?, ?)`),
        list: this.db.prepare(`SELECT stream, revision, version, time, event_id FROM "${table}" WHERE stream = ? ORDER BY revision, version`),
        del: this.db.prepare(`DELETE FROM "${table}" WHERE stream = ?`),
      };
    } catch (e) {
      if (this.owned) this.db.close();
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw new CorruptionError(`snapshot database is unreadable: ${(e as Error).message}`, options.path, { cause: e });
      throw e;
    }
  }

  async get(stream: string, query: SnapshotQuery): Promise<SnapshotRecord | undefined> {
    this.assertOpen();
    const max = Math.min(maxRevisionOf(query), Number.MAX_SAFE_INTEGER);
    const row = this.stmts.get.get(stream, query.version, max);
    return row ? toRecord(row) : undefined;
  }

  async put(snapshot: SnapshotRecord): Promise<void> {
    this.assertOpen();
    const s = validateSnapshot(snapshot);
    this.stmts.put.run(s.stream, s.version, s.revision, s.time.getTime(), s.eventId, s.state);
  }

  async list(stream: string): Promise<SnapshotInfo[]> {
    this.assertOpen();
    return this.stmts.list.all(stream).map(toInfo);
  }

  async delete(stream: string): Promise<number> {
    this.assertOpen();
    return this.stmts.del.run(stream).changes;
  }

  /** Close the connection if this store opened it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) this.db.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('SqliteSnapshotStore');
  }
}

function toInfo(r: Row): SnapshotInfo {
  return { stream: r.stream, revision: r.revision, version: r.version, time: new Date(r.time), eventId: r.event_id };
}

function toRecord(r: Row): SnapshotRecord {
  return { ...toInfo(r), state: r.state! };
}
