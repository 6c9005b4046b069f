/** How driver failures become dgent errors: a lost server is BackendUnavailableError, never a raw pg error or a hang. */
import { BackendUnavailableError, DgentError, ValidationError } from '../../core/errors.js';

/** Per-query result parsers, as pg's query config takes them. */
export interface TypeParsers {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown;
}

/** The slice of a pg client / pool that the log uses (kysely-style: no pg types in our signatures). */
export interface Queryable {
  query(text: string | { name?: string | undefined; text: string; values?: unknown[] | undefined; types?: TypeParsers | undefined }, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

/** SQLSTATE classes that mean "the server or the connection is not usable right now". */
const UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];

/** True when `e` says the server cannot be reached or dropped us (as opposed to a bad statement). */
export function isUnavailable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return UNAVAILABLE_CLASSES.includes(code.slice(0, 2));
  // node errors (ECONNREFUSED, ECONNRESET, ETIMEDOUT, ...) and pg's own connection messages
  if (typeof code === 'string' && code.startsWith('E')) return true;
  return /Connection terminated|connection timeout|timeout exceeded|Query read timeout|Client has encountered a connection error|not queryable|Connection ended|socket/i.test(e.message);
}

/**
 * The server refused the connection's settings: a role that does not exist or a wrong password
 * (SQLSTATE class 28), a database that does not exist (3D000). A configuration mistake, so a
 * ValidationError: retrying or failing over (fallback() does on BackendUnavailableError) cannot fix it.
 */
export function configurationRejection(e: unknown, who: string): ValidationError | undefined {
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !(code.startsWith('28') || code === '3D000')) return undefined;
  const message = (e as Error).message;
  const err = new ValidationError(`${who}: PostgreSQL refused the connection: ${message} (SQLSTATE ${code}); check the connection string`, [{ message, path: 'connectionString' }]);
  (err as { cause?: unknown }).cause = e;
  return err;
}

/** Where a pg pool connects, read from its options (pg's Pool keeps them): `host:port`, or undefined when not known. */
export function endpointOf(pool: unknown): { where: string; timeoutMs: number | undefined } | undefined {
  const o = (pool as { options?: { connectionString?: unknown; host?: unknown; port?: unknown; connectionTimeoutMillis?: unknown } } | null)?.options;
  if (o === undefined || o === null || typeof o !== 'object') return undefined;
  let host = typeof o.host === 'string' ? o.host : undefined;
  let port = typeof o.port === 'number' || typeof o.port === 'string' ? String(o.port) : undefined;
  if (typeof o.connectionString === 'string') {
    try {
      const url = new URL(o.connectionString);
      host = url.searchParams.get('host') ?? (url.hostname ? decodeURIComponent(url.hostname) : undefined) ?? host;
      port = url.port || url.searchParams.get('port') || port;
    } catch {
      // a malformed URL is rejected before any connection; nothing to name
    }
  }
  host ??= process.env.PGHOST || 'localhost';
  port ??= process.env.PGPORT || '5432';
  const timeoutMs = typeof o.connectionTimeoutMillis === 'number' && o.connectionTimeoutMillis > 0 ? o.connectionTimeoutMillis : undefined;
  return { where: host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`, timeoutMs };
}

/**
 * A failed connection attempt in plain words, naming host:port: nothing listening, a host that does
 * not resolve, or a server that is not PostgreSQL (it accepts the connection, then says nothing
 * PostgreSQL understands, or closes it). Undefined for other failures. `connecting: false` (an
 * error of any statement): only what can happen only while connecting (a closed connection may
 * also be a server that went away mid-statement).
 */
export function pgConnectFailure(e: unknown, pool: unknown, connecting = true): string | undefined {
  const at = endpointOf(pool);
  if (at === undefined) return undefined;
  const plain = connectFailure(e, at);
  if (plain === undefined || connecting) return plain;
  return /closed the connection|reset the connection/.test(plain) ? undefined : plain;
}

function connectFailure(e: unknown, at: { where: string; timeoutMs: number | undefined }): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const code = (e as { code?: unknown }).code;
  if (code === 'ECONNREFUSED') return `nothing accepts connections at ${at.where} (connection refused)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found: ${at.where} (${code})`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `${at.where} cannot be reached (${code})`;
  if (code === 'ECONNRESET') return `${at.where} reset the connection before answering as PostgreSQL`;
  if (/connection timeout/i.test(e.message)) {
    return `${at.where} did not answer as PostgreSQL within ${at.timeoutMs === undefined ? 'the connect timeout' : `${at.timeoutMs} ms (connectTimeoutMs)`}: no server there, or a server that is not PostgreSQL`;
  }
  if (/Connection terminated unexpectedly|Connection ended|unexpected message|Received unexpected/i.test(e.message)) {
    return `${at.where} did not answer as PostgreSQL: it closed the connection or sent something else (is it a PostgreSQL server?)`;
  }
  return undefined;
}

/**
 * Map a driver error: unavailability to BackendUnavailableError, dgent errors unchanged, anything
 * else wrapped with its cause. With `pool` (while connecting), a connection that could not be made
 * is described with the pool's host:port.
 */
export function mapPgError(e: unknown, doing: string, pool?: unknown): Error {
  if (e instanceof DgentError) return e;
  const refused = configurationRejection(e, doing);
  if (refused) return refused;
  const plain = pool === undefined ? undefined : pgConnectFailure(e, pool);
  if (plain !== undefined) return new BackendUnavailableError('PostgreSQL', `${doing}: ${plain}`, { cause: e });
  if (isUnavailable(e)) return new BackendUnavailableError('PostgreSQL', `${doing}: ${(e as Error).message}`, { cause: e });
  return new DgentError(`PostgreSQL error while ${doing}: ${e instanceof Error ? e.message : String(e)}`, 'DGENT_ERROR', { cause: e });
}
