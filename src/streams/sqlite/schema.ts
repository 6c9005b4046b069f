/**
 * The SQLite event table and its idempotent creation.
 *
 * `position INTEGER PRIMARY KEY` is the rowid: SQLite assigns max + 1 under the write lock, and
 * only one write transaction runs at a time, so positions are handed out in commit order and a
 * transaction's rows become visible all at once when it commits. A reader can therefore never see
 * position n + 1 before position n: checkpoints over `position` cannot skip events (unlike
 * PostgreSQL sequences, which need the xmin filter). Rows are never deleted, so the rowid is never
 * reused and AUTOINCREMENT (an extra write per insert) is not needed.
 */
import { CorruptionError } from '../../core/errors.js';
import type { SqliteDatabase } from './connection.js';

/** Name of the event table. */
export const EVENTS_TABLE = 'dgent_events';
/** Name of the table holding the schema version. */
export const META_TABLE = 'dgent_meta';
/** The schema this code writes and reads. */
export const SCHEMA_VERSION = 1;

/** DDL of the event table and its indexes (also used by the benchmark's raw baseline). */
export const EVENTS_DDL = `
CREATE TABLE IF NOT EXISTS ${EVENTS_TABLE} (
  position INTEGER PRIMARY KEY,
  stream   TEXT NOT NULL,
  revision INTEGER NOT NULL,
  id       TEXT NOT NULL,
  type     TEXT NOT NULL,
  data     TEXT NOT NULL,
  metadata TEXT,
  time     INTEGER NOT NULL,
  UNIQUE (stream, revision)
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS ${EVENTS_TABLE}_id ON ${EVENTS_TABLE} (id);
`;

const META_DDL = `CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`;

/**
 * Create the tables if missing and check the stored schema version. Runs inside BEGIN IMMEDIATE,
 * so processes opening a new file at the same moment create it once, one after another (the caller
 * retries on SQLITE_BUSY). A file written by a newer dgent is refused rather than misread.
 */
export function ensureSchema(db: SqliteDatabase, path: string): void {
  const version = () => db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = 'schema_version'`).pluck().get() as string | undefined;
  // fast path for an existing file: no write lock needed
  const hasMeta = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).pluck().get(META_TABLE) !== undefined;
  if (!hasMeta || version() === undefined) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(META_DDL);
      db.exec(EVENTS_DDL);
      db.prepare(`INSERT OR IGNORE INTO ${META_TABLE} (key, value) VALUES ('schema_version', ?)`).run(String(SCHEMA_VERSION));
      db.exec('COMMIT');
    } catch (e) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw e;
    }
  }
  const stored = Number(version());
  if (stored !== SCHEMA_VERSION) {
    throw new CorruptionError(`event log schema version ${String(version())} is not supported (this dgent reads version ${SCHEMA_VERSION}); upgrade dgent`, path);
  }
}
