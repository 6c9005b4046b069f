/**
 * Backend URLs: one string names a backend and where its data lives, so that a command line, an
 * environment variable or a config file can choose the storage without code.
 *
 * | URL | backend |
 * | --- | --- |
 * | `memory:` | in-process memory (gone at exit) |
 * | `file:./dir` or `file:///abs/dir` | FileEventLog / PersistentAgent files in a directory |
 * | `sqlite:./data.db` or `sqlite:///abs/data.db` | one SQLite file |
 * | `postgres://user@host:5432/db?schema=app` | PostgreSQL (`schema` is dgent's; default `dgent`) |
 * | `redis://host:6379/0?prefix=app` | Redis (`prefix` is dgent's) |
 * | `esdb://host:2113?tls=false` | EventStoreDB / KurrentDB |
 *
 * A mistake is a ValidationError whose message starts with where the URL came from (an
 * environment variable's name, or "url") and names the part that is wrong.
 */
import { checkPostgresUrl, checkRedisUrl, redactUrl } from '../core/connection-url.js';
import { ValidationError } from '../core/errors.js';

/** The backends a URL can name. */
export type BackendKind = 'memory' | 'file' | 'sqlite' | 'postgres' | 'redis' | 'esdb';

/** What a backend URL names, checked. */
export type BackendTarget =
  | { kind: 'memory'; url: string }
  | { kind: 'file'; url: string; dir: string }
  | { kind: 'sqlite'; url: string; path: string }
  | { kind: 'postgres'; url: string; connectionString: string; schema: string | undefined }
  | { kind: 'redis'; url: string; redisUrl: string; prefix: string | undefined }
  | { kind: 'esdb'; url: string; connectionString: string };

const FORMS = 'memory:, file:./dir, sqlite:./data.db, postgres://…, redis://… or esdb://…';

function fail(source: string, url: string, problem: string, part: string): never {
  throw new ValidationError(`${source}: ${redactUrl(url)}: ${problem}`, [{ message: problem, path: part }]);
}

/** `file:./x`, `file:x`, `file:///abs/x` → the path; the same for `sqlite:`. */
function pathPart(source: string, url: string, scheme: string): string {
  let rest = url.slice(scheme.length + 1);
  if (rest.startsWith('//')) {
    // file:///abs → /abs ; file://host/... is not a local path
    if (!rest.startsWith('///')) fail(source, url, `a ${scheme}: URL names a local path: ${scheme}:./relative or ${scheme}:///absolute (no host)`, 'path');
    rest = rest.slice(2);
  }
  const q = rest.search(/[?#]/);
  if (q >= 0) fail(source, url, `the ${scheme}: path takes no query or fragment (${JSON.stringify(rest.slice(q))})`, 'query');
  let path: string;
  try {
    path = decodeURIComponent(rest);
  } catch {
    fail(source, url, 'the path is not valid percent-encoding', 'path');
  }
  if (path.length === 0) fail(source, url, `names no path, e.g. ${scheme === 'file' ? 'file:./data' : 'sqlite:./data.db'}`, 'path');
  if (path.includes('\0')) fail(source, url, 'the path contains a NUL byte', 'path');
  return path;
}

/** Take dgent's own query parameter (`schema`, `prefix`) out of a URL the driver will see. */
function takeParam(url: string, name: string): { rest: string; value: string | undefined } {
  const q = url.indexOf('?');
  if (q < 0) return { rest: url, value: undefined };
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const params = new URLSearchParams(query);
  const value = params.get(name) ?? undefined;
  params.delete(name);
  const left = params.toString();
  return { rest: url.slice(0, q) + (left ? `?${left}` : '') + (hash < 0 ? '' : url.slice(hash)), value };
}

/**
 * Check a backend URL and say what it names.
 *
 * @param source where the URL came from, for messages: `'DGENT_LOG_URL'`, `'url'`, `'--url'`
 * @example
 * ```ts
 * parseBackendUrl('sqlite:./data.db');   // { kind: 'sqlite', path: './data.db', ... }
 * parseBackendUrl('postgres://localhost/app?schema=chat');   // { kind: 'postgres', schema: 'chat', ... }
 * ```
 */
export function parseBackendUrl(url: unknown, source = 'url'): BackendTarget {
  if (typeof url !== 'string' || url.trim().length === 0) {
    throw new ValidationError(`${source}: a backend URL is needed (${FORMS}), got ${url === undefined ? 'nothing' : url === '' ? 'an empty string' : typeof url}`, [
      { message: 'missing', path: 'url' },
    ]);
  }
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  if (!m) fail(source, url, `has no scheme: write one of ${FORMS}`, 'scheme');
  const scheme = m[1]!.toLowerCase();
  switch (scheme) {
    case 'memory':
      if (url.length > 'memory:'.length && !/^memory:(\/\/)?$/i.test(url)) fail(source, url, 'memory: takes nothing after the colon', 'path');
      return { kind: 'memory', url };
    case 'file':
      return { kind: 'file', url, dir: pathPart(source, url, 'file') };
    case 'sqlite':
      return { kind: 'sqlite', url, path: pathPart(source, url, 'sqlite') };
    case 'postgres':
    case 'postgresql': {
      const { rest, value: schema } = takeParam(url, 'schema');
      if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,47}$/.test(schema)) {
        fail(source, url, `the schema ${JSON.stringify(schema)} must match /^[a-z_][a-z0-9_]{0,47}$/ (lower-case letters, digits, _)`, 'schema');
      }
      relabel(source, () => checkPostgresUrl(rest, 'PostgreSQL'));
      return { kind: 'postgres', url, connectionString: rest, schema };
    }
    case 'redis':
    case 'rediss': {
      const { rest, value: prefix } = takeParam(url, 'prefix');
      if (prefix !== undefined && !/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) fail(source, url, `the prefix ${JSON.stringify(prefix)} must be 1-64 letters, digits, _ . : or -`, 'prefix');
      relabel(source, () => checkRedisUrl(rest, 'Redis'));
      return { kind: 'redis', url, redisUrl: rest, prefix };
    }
    case 'esdb':
    case 'esdb+discover':
    case 'kurrentdb':
    case 'kurrentdb+discover':
    case 'kdb':
    case 'kdb+discover': {
      if (!/^[a-z+]+:\/\/[^/?#]+/i.test(url)) fail(source, url, 'names no host, e.g. esdb://localhost:2113?tls=false', 'host');
      return { kind: 'esdb', url, connectionString: url };
    }
    default:
      fail(source, url, `unknown scheme ${JSON.stringify(scheme + ':')}: write one of ${FORMS}`, 'scheme');
  }
}

/** Run a shared URL check, prefixing its message with where the URL came from. */
function relabel<T>(source: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(`${source}: ${e.message}`, e.issues);
    throw e;
  }
}
