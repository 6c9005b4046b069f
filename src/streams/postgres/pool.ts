/**
 * The pg pool a dgent backend creates from a connection string (PostgresEventLog, SQLAgent): the
 * same settings, timeouts and error handling for both. It takes pg's `Pool` class as an argument,
 * so that this file does not load pg (SQLAgent imports pg only when it is used).
 */
import { ValidationError, shown } from '../../core/errors.js';
import { checkPostgresUrl } from '../../core/connection-url.js';
import { QueryWatchdog, type PoolEvents } from './watchdog.js';

/** The pool options a created pool takes, as the backends' options spell them. */
export interface OwnedPoolOptions {
  /** pool size (default 10) */
  maxConnections?: number;
  /** connect timeout, ms (default 10 000); it also bounds the wait for a free connection of the pool */
  connectTimeoutMs?: number;
  /** server statement timeout, ms (default 30 000); the read timeout is this + 5 s (QueryWatchdog) */
  statementTimeoutMs?: number;
}

/** Node timers and PostgreSQL's timeouts take at most 2^31 - 1 ms. */
const MAX_MS = 2_147_483_647;
/** the read timeout's margin over the statement timeout */
const READ_MARGIN_MS = 5_000;

function intFrom1(value: number | undefined, fallback: number, what: string, max: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw new ValidationError(`${what} must be an integer from 1 to ${max}, got ${shown(value)}`);
  return v;
}

/** Check the options and fill in the defaults (ValidationError names the bad one). */
export function resolvePoolOptions(options: OwnedPoolOptions): Required<OwnedPoolOptions> {
  return {
    maxConnections: intFrom1(options.maxConnections, 10, 'maxConnections', 10_000),
    connectTimeoutMs: intFrom1(options.connectTimeoutMs, 10_000, 'connectTimeoutMs', MAX_MS),
    statementTimeoutMs: intFrom1(options.statementTimeoutMs, 30_000, 'statementTimeoutMs', MAX_MS - READ_MARGIN_MS),
  };
}

/** pg's Pool class, as far as it is used here. */
export type PoolClass<P> = new (config: Record<string, unknown>) => P & PoolEvents & { on(event: 'error', fn: () => void): unknown; on(event: 'connect', fn: (client: { on(event: 'error', fn: () => void): unknown }) => void): unknown };

/**
 * Create the pool: the server's statement and idle-in-transaction timeouts, keepAlive, the read
 * timeout kept by a {@link QueryWatchdog} (stop it once the pool has ended), and error listeners:
 * an idle connection that breaks (the server restarted, a proxy cut it) is reported as an 'error'
 * event of the pool, and one that is checked out as an 'error' event of the client; without
 * listeners either kills the process. The statement in flight fails with the error, and the pool
 * drops the dead client. The URL is checked first (ValidationError naming the part that is wrong).
 */
export function createOwnedPool<P>(Pool: PoolClass<P>, connectionString: string, options: OwnedPoolOptions, what = 'PostgreSQL'): { pool: P; watchdog: QueryWatchdog } {
  checkPostgresUrl(connectionString, what);
  const o = resolvePoolOptions(options);
  const pool = new Pool({
    connectionString,
    // idle connections do not keep the process alive: a script that forgets close() still exits
    // once its work is done (a statement in flight, or a held LISTEN connection, still does)
    allowExitOnIdle: true,
    max: o.maxConnections,
    connectionTimeoutMillis: o.connectTimeoutMs,
    statement_timeout: o.statementTimeoutMs,
    // no query_timeout: the watchdog is the client-side read timeout (pg's armed a timer per query, ~5 µs)
    idle_in_transaction_session_timeout: o.statementTimeoutMs,
    keepAlive: true,
  });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => void client.on('error', () => undefined));
  return { pool, watchdog: new QueryWatchdog(pool, o.statementTimeoutMs + READ_MARGIN_MS) };
}
