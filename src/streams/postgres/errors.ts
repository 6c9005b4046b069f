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

/** Map a driver error: unavailability to BackendUnavailableError, dgent errors unchanged, anything else wrapped with its cause. */
export function mapPgError(e: unknown, doing: string): Error {
  if (e instanceof DgentError) return e;
  const refused = configurationRejection(e, doing);
  if (refused) return refused;
  if (isUnavailable(e)) return new BackendUnavailableError('PostgreSQL', `${doing}: ${(e as Error).message}`, { cause: e });
  return new DgentError(`PostgreSQL error while ${doing}: ${e instanceof Error ? e.message : String(e)}`, 'DGENT_ERROR', { cause: e });
}
