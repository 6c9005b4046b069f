/**
 * Turn SQLAgent's `db | connectionString | path` into a Kysely instance and its dialect. Drivers
 * are loaded with dynamic `import()` only when used, so `import 'dgent'` needs neither pg nor the
 * native SQLite module to be loaded.
 */
import { Kysely, PostgresAdapter, PostgresDialect, SqliteAdapter, SqliteDialect } from 'kysely';
import { statSync } from 'node:fs';
import { BackendUnavailableError, CorruptionError, ValidationError } from '../../core/errors.js';
import { driverLoadError } from '../../core/drivers.js';
import { ensureParentDir } from '../../core/fs-errors.js';
import { checkPostgresUrl } from '../../core/connection-url.js';
import { createOwnedPool, resolvePoolOptions, type PoolClass } from '../../streams/postgres/pool.js';
import { classifySqlError, type PgQuery, type SqliteQuery } from './statements.js';

/** The SQL dialects SQLAgent speaks. */
export type SqlDialectName = 'sqlite' | 'postgres';

/** What SQLAgent accepts as `db`: a Kysely instance, a better-sqlite3 Database or a pg Pool. */
export type SqlDatabase = Kysely<any> | BetterSqliteLike | PgPoolLike;

/** The slice of better-sqlite3's Database that is used (and detected). */
export interface BetterSqliteLike {
  prepare(sql: string): unknown;
  pragma(source: string, options?: unknown): unknown;
  close(): unknown;
}

/** The slice of pg's Pool that is used (and detected). */
export interface PgPoolLike {
  connect(): Promise<unknown>;
  query(...args: any[]): Promise<unknown>;
  end(): Promise<void>;
}

/** How to reach the database. */
export interface SqlConnectionOptions {
  db?: SqlDatabase | undefined;
  connectionString?: string | undefined;
  path?: string | undefined;
  /** SQLite `synchronous` for databases opened from `path` (default 'NORMAL': survives a process crash; 'FULL': power loss). */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
  /**
   * PostgreSQL: run save and load as named prepared statements (default true). Set false behind a
   * connection pooler in transaction mode that does not keep prepared statements (PgBouncer without
   * `max_prepared_statements`); SQLAgent also stops preparing on a pool by itself when the server
   * reports a named statement missing or already there.
   */
  preparedStatements?: boolean | undefined;
  /** PostgreSQL from `connectionString`: pool size (default 10). */
  maxConnections?: number | undefined;
  /**
   * PostgreSQL from `connectionString`: connect timeout, ms (default 10 000). It also bounds the wait
   * for a free connection when `maxConnections` are all busy (pg-pool's connectionTimeoutMillis).
   */
  connectTimeoutMs?: number | undefined;
  /**
   * PostgreSQL from `connectionString`: server statement timeout, ms (default 30 000); a statement
   * without a reply for this + 5 s (a server that stopped answering) fails with
   * BackendUnavailableError and its connection is replaced. A `db` passed in keeps its own settings.
   */
  statementTimeoutMs?: number | undefined;
}

/** Check the PostgreSQL pool options up front (the connection itself is made on first use). */
export function checkPoolOptions(options: SqlConnectionOptions): void {
  const given = [options.maxConnections, options.connectTimeoutMs, options.statementTimeoutMs].some((x) => x !== undefined);
  if (given && options.connectionString === undefined) throw new ValidationError('maxConnections, connectTimeoutMs and statementTimeoutMs apply to a pool made from connectionString only');
  if (options.connectionString !== undefined) checkPostgresUrl(options.connectionString, 'SQLAgent');
  resolvePoolOptions(options);
}

/** A resolved connection. `owned` connections are closed by the agent. */
export interface SqlConnection {
  db: Kysely<any>;
  dialect: SqlDialectName;
  /** the pg pool itself, when there is one (a connectionString or a Pool): hot statements run prepared through it */
  pg?: PgQuery;
  /** the better-sqlite3 database itself, when there is one (a path or a Database): hot statements run on cached prepared statements */
  sqlite?: SqliteQuery;
  destroy(): Promise<void>;
}

function isKysely(x: unknown): x is Kysely<any> {
  return x instanceof Kysely || (typeof x === 'object' && x !== null && typeof (x as Kysely<any>).getExecutor === 'function' && typeof (x as Kysely<any>).selectFrom === 'function');
}

function isBetterSqlite(x: unknown): x is BetterSqliteLike {
  const d = x as BetterSqliteLike;
  return typeof x === 'object' && x !== null && typeof d.prepare === 'function' && typeof d.pragma === 'function';
}

function isPgPool(x: unknown): x is PgPoolLike {
  const p = x as PgPoolLike;
  return typeof x === 'object' && x !== null && typeof p.connect === 'function' && typeof p.query === 'function' && typeof p.end === 'function';
}

function dialectOf(db: Kysely<any>): SqlDialectName {
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  const name = adapter.constructor.name.toLowerCase();
  if (name.includes('postgres')) return 'postgres';
  if (name.includes('sqlite')) return 'sqlite';
  throw new ValidationError(`SQLAgent supports SQLite and PostgreSQL; this Kysely instance uses ${adapter.constructor.name}`);
}

function setupSqlite(d: BetterSqliteLike, synchronous: string): void {
  d.pragma('journal_mode = WAL');
  d.pragma(`synchronous = ${synchronous === 'FULL' ? 'FULL' : 'NORMAL'}`);
  d.pragma('busy_timeout = 10000'); // another connection's write transaction: wait, do not fail
}

/** Resolve the options to a connection. Exactly one of db, connectionString, path must be given. */
export async function connect(options: SqlConnectionOptions): Promise<SqlConnection> {
  const given = [options.db, options.connectionString, options.path].filter((x) => x !== undefined).length;
  if (given !== 1) throw new ValidationError('SQLAgent needs exactly one of db, connectionString or path');
  const keep = async (): Promise<void> => undefined; // a caller's connection is the caller's to close
  if (options.db !== undefined) {
    const db = options.db;
    if (isKysely(db)) return { db, dialect: dialectOf(db), destroy: keep };
    if (isBetterSqlite(db)) {
      return { db: new Kysely({ dialect: new SqliteDialect({ database: db as never }) }), dialect: 'sqlite', sqlite: db as unknown as SqliteQuery, destroy: keep };
    }
    if (isPgPool(db)) {
      const pg = options.preparedStatements === false ? undefined : (db as unknown as PgQuery);
      return { db: new Kysely({ dialect: new PostgresDialect({ pool: db as never }) }), dialect: 'postgres', pg, destroy: keep };
    }
    throw new ValidationError('SQLAgent db must be a Kysely instance, a better-sqlite3 Database or a pg Pool');
  }
  if (options.connectionString !== undefined) {
    const url = checkPostgresUrl(options.connectionString, 'SQLAgent');
    let Pool: typeof import('pg').Pool;
    try {
      const mod = await import('pg');
      // pg is CommonJS: its classes sit on the default export under ESM
      Pool = (mod as unknown as { default?: typeof mod }).default?.Pool ?? mod.Pool;
    } catch (e) {
      throw driverLoadError('SQLAgent with a connectionString', 'pg', e);
    }
    // kysely holds a client for one statement or one short transaction: the watchdog times that
    const { pool, watchdog } = createOwnedPool(Pool as unknown as PoolClass<import('pg').Pool>, url, options, 'SQLAgent');
    const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
    return {
      db,
      dialect: 'postgres',
      pg: options.preparedStatements === false ? undefined : (pool as unknown as PgQuery),
      destroy: async () => {
        try {
          await db.destroy();
        } finally {
          watchdog.stop();
        }
      },
    };
  }
  const path = options.path!;
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) throw new ValidationError('path must be a non-empty file path without NUL bytes');
  let Database: typeof import('better-sqlite3');
  try {
    Database = (await import('better-sqlite3')).default;
  } catch (e) {
    throw driverLoadError('SQLAgent with a path', 'better-sqlite3', e);
  }
  if (path !== ':memory:' && !path.startsWith('file:')) {
    // like the event logs, a database file may be given in a directory that does not exist yet
    ensureParentDir(path, 'SQLite');
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) throw new ValidationError(`SQLite: ${path} is a directory; path must name a database file`, [{ message: 'is a directory', path }]);
  }
  let raw: import('better-sqlite3').Database | undefined;
  try {
    raw = new Database(path);
    setupSqlite(raw as unknown as BetterSqliteLike, options.synchronous ?? 'NORMAL');
  } catch (e) {
    try {
      raw?.close();
    } catch {
      // the open error is the one to report
    }
    // a file that is not a database (or a damaged one) is left exactly as it is
    if (classifySqlError(e) === 'damaged') {
      throw new CorruptionError(`${path} is not a readable SQLite database (${(e as Error).message}); nothing was changed`, path, { cause: e });
    }
    throw new BackendUnavailableError('SQLite', `cannot open ${path}: ${(e as Error).message}`, { cause: e });
  }
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
  return { db, dialect: 'sqlite', sqlite: raw as unknown as SqliteQuery, destroy: () => db.destroy() };
}
