/**
 * The one check of connection URLs, shared by every PostgreSQL entry point (SQLAgent,
 * PostgresEventLog) and every Redis entry point (RedisAgent, RedisEventLog). The drivers read a
 * malformed URL in surprising ways (ioredis connects `redis:/oops` to localhost and reports
 * `redis://host:notaport` as "max retries per request"; pg sends a startup packet for
 * `postgres:/oops`), so a URL is checked here first and a mistake is a ValidationError naming the
 * part that is wrong. Passwords never appear in the messages.
 */
import { ValidationError } from './errors.js';

/** The parts of a URL's authority and path, as written (not yet percent-decoded). */
interface UrlParts {
  scheme: string;
  userinfo: string | undefined;
  host: string;
  port: string | undefined;
  path: string;
}

/** The URL with its password replaced by `***`, shortened, for error messages. */
export function redactUrl(url: string): string {
  const shown = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i, '$1***@');
  return JSON.stringify(shown.length > 120 ? shown.slice(0, 120) + '…' : shown);
}

function fail(what: string, url: string, problem: string, part: string): never {
  throw new ValidationError(`${what}: connection URL ${redactUrl(url)}: ${problem}`, [{ message: problem, path: part }]);
}

/** Split `scheme://[userinfo@]host[:port][/path][?query][#fragment]`; undefined when there is no `scheme://`. */
function split(url: string): UrlParts | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/i.exec(url);
  if (!m) return undefined;
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hostPort = authority.slice(at + 1);
  // [v6 address]:port or host:port
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(.*))?$/.exec(hostPort)!;
  return { scheme: m[1]!.toLowerCase(), userinfo, host: hp[1]!, port: hp[2], path: m[3]! };
}

function checkPort(what: string, url: string, port: string | undefined): number | undefined {
  if (port === undefined || port === '') return undefined;
  const n = /^\d{1,5}$/.test(port) ? Number(port) : NaN;
  if (!(n >= 1 && n <= 65_535)) fail(what, url, `port ${JSON.stringify(port)} is not a number from 1 to 65535`, 'port');
  return n;
}

function checkEncoding(what: string, url: string, text: string | undefined, part: string): void {
  if (text === undefined) return;
  try {
    decodeURIComponent(text);
  } catch {
    fail(what, url, `the ${part} is not valid percent-encoding (write special characters as encodeURIComponent does, e.g. %40 for @)`, part);
  }
}

function checkUserinfo(what: string, url: string, userinfo: string | undefined): void {
  if (userinfo === undefined) return;
  const colon = userinfo.indexOf(':');
  checkEncoding(what, url, colon < 0 ? userinfo : userinfo.slice(0, colon), 'user name');
  if (colon >= 0) checkEncoding(what, url, userinfo.slice(colon + 1), 'password');
}

function parseable(what: string, url: string): void {
  try {
    new URL(url);
  } catch {
    fail(what, url, 'is not a valid URL', 'url');
  }
}

/**
 * Check a PostgreSQL connection string: `postgres://` or `postgresql://`, a port from 1 to 65535
 * when given, valid percent-encoding in the user name, password and database name. The host may
 * be empty (pg then uses PGHOST, or `?host=/run/postgresql` for a Unix socket).
 */
export function checkPostgresUrl(url: unknown, what: string): string {
  if (typeof url !== 'string' || url.length === 0) {
    throw new ValidationError(`${what}: connectionString must be a postgres:// URL string, got ${url === '' ? 'an empty string' : typeof url}`);
  }
  const p = split(url);
  if (!p || (p.scheme !== 'postgres' && p.scheme !== 'postgresql')) {
    fail(what, url, 'must start with postgres:// or postgresql:// (for SQLite pass path)', 'scheme');
  }
  checkPort(what, url, p.port);
  checkUserinfo(what, url, p.userinfo);
  checkEncoding(what, url, p.path.slice(1), 'database name');
  if (p.path.length > 1 && p.path.slice(1).includes('/')) fail(what, url, `the database name ${JSON.stringify(p.path.slice(1))} must not contain /`, 'database');
  parseable(what, url);
  return url;
}

/** What a checked Redis URL names. */
export interface RedisUrl {
  host: string;
  port: number;
  /** the database index from the path (`/3`), 0 when none */
  db: number;
}

/**
 * Check a Redis URL: `redis://` or `rediss://`, a host, a port from 1 to 65535 when given
 * (default 6379), a database index `/<n>` (an integer >= 0) when given, valid percent-encoding in
 * the user name and password. Whether the server has that database is known only once connected
 * (see resolveClient).
 */
export function checkRedisUrl(url: unknown, what: string): RedisUrl {
  if (typeof url !== 'string' || url.length === 0) {
    throw new ValidationError(`${what}: url must be a redis:// URL string, got ${url === '' ? 'an empty string' : typeof url}`);
  }
  const p = split(url);
  if (!p || (p.scheme !== 'redis' && p.scheme !== 'rediss')) fail(what, url, 'must start with redis:// or rediss://, e.g. redis://127.0.0.1:6379/0', 'scheme');
  if (p.host === '' || p.host === '[]') fail(what, url, 'names no host, e.g. redis://127.0.0.1:6379', 'host');
  const port = checkPort(what, url, p.port) ?? 6379;
  checkUserinfo(what, url, p.userinfo);
  let db = 0;
  if (p.path !== '' && p.path !== '/') {
    const index = p.path.slice(1);
    if (!/^\d{1,9}$/.test(index)) fail(what, url, `the database ${JSON.stringify(index)} is not an integer >= 0 (redis://host:port/<db>)`, 'db');
    db = Number(index);
  }
  parseable(what, url);
  return { host: p.host.replace(/^\[|\]$/g, ''), port, db };
}
