/** Prepared statements of the SQLite views, cached per connection and text (table names differ per generation). */
import type { SqliteStatement } from '../../streams/sqlite/driver-types.js';
import type { SqliteDatabase } from '../../streams/sqlite/connection.js';

type Statement = SqliteStatement<unknown[], any>;
const cache = new WeakMap<SqliteDatabase, Map<string, Statement>>();

/** The prepared statement of `sql` on `db`, prepared once. */
export function stmt(db: SqliteDatabase, sql: string): Statement {
  let m = cache.get(db);
  if (!m) cache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) {
    if (m.size > 2000) m.clear(); // query texts vary with their filters: keep the cache bounded
    m.set(sql, (s = db.prepare<unknown[], any>(sql)));
  }
  return s;
}

/**
 * The SQL texts of one table (or set of tables, named by `key`), built by `make` once: a batch
 * applied inline rebuilt its statements' texts on every append, and looking each fresh text up in
 * the statement cache hashed all of it again (2-3% of an inline append's profile). The same string
 * objects keep their hash.
 */
export function textsOf<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let t = cache.get(key);
  if (t === undefined) {
    if (cache.size > 1000) cache.clear(); // one entry per generation's table: bounded by rebuilds
    cache.set(key, (t = make()));
  }
  return t;
}

/**
 * The prepared statement of `sql` on `db` returning rows as arrays (better-sqlite3's raw mode),
 * cached apart from {@link stmt}'s: raw mode is a setting of the statement object, so a statement
 * shared with readers expecting row objects must never be switched.
 */
export function rawStmt(db: SqliteDatabase, sql: string): Statement {
  let m = rawCache.get(db);
  if (!m) rawCache.set(db, (m = new Map()));
  let s = m.get(sql);
  if (!s) {
    if (m.size > 2000) m.clear();
    m.set(sql, (s = db.prepare<unknown[], any>(sql).raw(true)));
  }
  return s;
}

const rawCache = new WeakMap<SqliteDatabase, Map<string, Statement>>();

/** What the SQLite readers need from SqliteViewStorage. */
export interface SqliteTables {
  readonly db: SqliteDatabase;
  /** the quoted table `local` of the active generation of `projection`, or undefined before setup */
  table(projection: string, local: string): Promise<string | undefined>;
}

/** What the PostgreSQL readers need from PostgresViewStorage. */
export interface PostgresTables {
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  /** the qualified table `local` of the active generation of `projection`, or undefined before setup */
  table(projection: string, local: string): Promise<string | undefined>;
}
