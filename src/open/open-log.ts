/**
 * `openLog(url)`: the EventLog a backend URL names. The drivers of PostgreSQL, Redis and
 * EventStoreDB are loaded only when such a URL is opened (through their subpath entries, which
 * name the package to install when it is missing), so `import 'dgent'` stays driver-free.
 */
import type { EventLog } from '../streams/event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import { FileEventLog } from '../streams/file/file-event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import type { BackendTarget } from './backend-url.js';
import { resolveTarget } from './env.js';

/** Options of {@link openLog}. */
export interface OpenLogOptions {
  /** read `DGENT_*` from here instead of `process.env` when no URL is given */
  env?: Record<string, string | undefined> | undefined;
  /** open a file log read-only (no lock taken; another process may be appending) */
  readOnly?: boolean | undefined;
}

/** Where each log opened by URL came from (for importers that need the connection, and for tools). */
const targets = new WeakMap<EventLog, BackendTarget>();

/** The checked URL a log was opened from with {@link openLog}; undefined for logs made otherwise. */
export function logTarget(log: EventLog): BackendTarget | undefined {
  return targets.get(log);
}

/** Open the log of an already checked target. */
export async function openLogTarget(target: BackendTarget, options: OpenLogOptions = {}): Promise<EventLog> {
  const log = await construct(target, options);
  targets.set(log, target);
  return log;
}

async function construct(t: BackendTarget, options: OpenLogOptions): Promise<EventLog> {
  switch (t.kind) {
    case 'memory':
      return new MemoryEventLog();
    case 'file':
      return new FileEventLog({ dir: t.dir, readOnly: options.readOnly });
    case 'sqlite':
      return new SqliteEventLog({ path: t.path });
    case 'postgres': {
      const { PostgresEventLog } = await import('../postgres.js');
      return new PostgresEventLog({ connectionString: t.connectionString, schema: t.schema });
    }
    case 'redis': {
      const { RedisEventLog } = await import('../redis.js');
      return new RedisEventLog({ url: t.redisUrl, prefix: t.prefix });
    }
    case 'esdb': {
      const { EventStoreDBEventLog } = await import('../eventstoredb.js');
      return new EventStoreDBEventLog({ connectionString: t.connectionString });
    }
  }
}

/**
 * Open the event log a backend URL names (see {@link parseBackendUrl} for the forms). Without a
 * URL, `DGENT_LOG_URL` or `DGENT_URL` is used. Nothing connects until the first operation.
 *
 * @throws ValidationError for a bad URL or variable (naming it and the wrong part); DgentError
 *   "needs the 'pg' package" when the backend's driver is not installed.
 * @example
 * ```ts
 * const log = await openLog('sqlite:./data/events.db');
 * for await (const e of log.readAll()) console.log(e.position, e.stream, e.type);
 * await log.close();
 * ```
 */
export async function openLog(url?: string, options: OpenLogOptions = {}): Promise<EventLog> {
  return openLogTarget(resolveTarget(url, 'log', options.env), options);
}
