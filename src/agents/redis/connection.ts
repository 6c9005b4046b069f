/**
 * What dgent watches on the Redis connections it creates from a URL (never on a client of yours):
 *
 * - A database the server does not have (`redis://host:6379/99` on a 16-database server). ioredis
 *   reports the failed SELECT as an 'error' event and goes on, on database 0. Here the failed
 *   SELECT closes the connection before anything else is sent on it, and every call then fails
 *   with a ValidationError saying so: nothing is ever written to another database.
 * - Why a connection cannot be made: with `maxRetriesPerRequest: 0` a call fails with ioredis's
 *   "Reached the max retries per request limit"; the last connection error (connection refused
 *   host:port, host not found, ...) is what the BackendUnavailableError then says.
 * - Whether the connection keeps the process alive: only while a command waits for its reply, so
 *   a script that forgets `close()` still exits once its work is done (the socket and the
 *   reconnect timer are unref'd while idle).
 */
import type { Redis } from 'ioredis';
import { ValidationError } from '../../core/errors.js';

/** The connection facts kept per client dgent created. */
interface Watched {
  /** set once the server refused the database: every later call fails with it */
  refused: ValidationError | undefined;
  /** the last failed connection attempt, cleared when a connection is ready */
  connectError: Error | undefined;
  /** a connection was ready once: the server spoke Redis */
  everReady: boolean;
}

/** The code of the error the stall watchdog (client.ts watchStalls) ends a connection with. */
export const STALL_CODE = 'DGENT_REDIS_STALL';

const watched = new WeakMap<object, Watched>();

/** ioredis's reply to a SELECT of a database the server does not have (or cannot SELECT at all). */
const BAD_DB = /DB index is out of range|invalid DB index|SELECT is not allowed/i;

/**
 * Watch a client dgent created: its error events (which must be listened to, or Node would end
 * the process on the first connection loss), a refused database and the last connection error.
 */
export function watchConnection(client: Redis, what: string): void {
  const w: Watched = { refused: undefined, connectError: undefined, everReady: false };
  watched.set(client, w);
  client.on('error', (e: Error) => {
    // the SELECT of the handshake (status 'connect'): refused, so close before the queued calls go out
    if (e?.name === 'ReplyError' && BAD_DB.test(e.message) && client.status === 'connect') {
      const db = (client.options as { db?: number }).db ?? 0;
      w.refused = new ValidationError(`${what}: the Redis server at ${address(client)} has no database ${db} (${e.message}); nothing was written`, [
        { message: e.message, path: 'db' },
      ]);
      client.disconnect();
      return;
    }
    if (client.status !== 'ready') w.connectError = e;
  });
  client.on('ready', () => {
    w.connectError = undefined;
    w.everReady = true;
  });
}

/** host:port of a client (its options; a cluster has no single one). */
export function address(client: object): string {
  const o = (client as { options?: { host?: string; port?: number; path?: string } }).options;
  if (o?.path) return o.path;
  return `${o?.host ?? 'localhost'}:${o?.port ?? 6379}`;
}

/** The ValidationError of a client whose database the server refused, if any. */
export function refusedDatabase(client: object | undefined): ValidationError | undefined {
  return client === undefined ? undefined : watched.get(client)?.refused;
}

/**
 * Why the client cannot connect, in words (undefined when it is connected, or not watched):
 * "connection refused 127.0.0.1:6390", "host not found redis.internal:6379", ...
 */
export function connectFailure(client: object | undefined): string | undefined {
  const w = client === undefined ? undefined : watched.get(client);
  const e = w?.connectError;
  if (e === undefined || (client as Redis).status === 'ready') return undefined;
  const code = (e as { code?: string }).code;
  const where = address(client!);
  // a server that never answered as Redis: a wrong port (PostgreSQL, HTTP, ...) or not a server at all
  const notRedis = `${where} did not answer as Redis`;
  if (code === STALL_CODE) {
    const ms = (e as { timeoutMs?: number }).timeoutMs;
    return w!.everReady ? `${where} did not answer a command within ${ms} ms` : `${notRedis}: it accepted the connection but sent no reply within ${ms} ms (is it a Redis server?)`;
  }
  if (e.name === 'ParserError' || /Protocol error|Unknown RESP type/i.test(e.message)) return `${notRedis}: it sent data that is not the Redis protocol (is it a Redis server?)`;
  if (!w!.everReady && (code === 'ECONNRESET' || code === 'EPIPE')) return `${notRedis}: it closed the connection (is it a Redis server?)`;
  switch (code) {
    case 'ECONNREFUSED':
      return `connection refused ${where}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found ${where} (${code})`;
    case 'ETIMEDOUT':
      return `connection to ${where} timed out`;
    case 'ECONNRESET':
      return `connection to ${where} reset by the server`;
    default:
      return `cannot connect to ${where}: ${e.message}`;
  }
}

/**
 * What to say when a call failed because its connection closed before the reply (ioredis's
 * MaxRetriesPerRequestError, with `maxRetriesPerRequest: 0`) and no connection error was seen: a
 * server that never answered as Redis closed it (a wrong port), or a Redis connection was lost.
 */
export function closedBeforeReply(client: object | undefined): string {
  if (client === undefined || (client as { isCluster?: boolean }).isCluster === true) return 'the connection closed before Redis replied';
  const w = watched.get(client);
  const where = address(client);
  return w !== undefined && !w.everReady ? `${where} did not answer as Redis: it closed the connection (is it a Redis server?)` : `the connection to ${where} closed before Redis replied`;
}

/**
 * Let the connection keep the process alive only while a command waits for its reply: the socket
 * (and a pending reconnect timer) are unref'd whenever nothing is in flight. Each command costs
 * one counter update and one `then` on its promise.
 */
export function refOnlyWhileBusy(client: Redis): void {
  let inFlight = 0;
  const internals = client as unknown as { reconnectTimeout?: NodeJS.Timeout | null };
  const apply = (): void => {
    const busy = inFlight > 0;
    const socket = client.stream as { ref?: () => void; unref?: () => void } | undefined;
    if (busy) socket?.ref?.();
    else socket?.unref?.();
    const timer = internals.reconnectTimeout;
    if (timer) {
      if (busy) timer.ref();
      else timer.unref();
    }
  };
  const done = (): void => {
    if (--inFlight === 0) apply();
  };
  const send = client.sendCommand.bind(client);
  client.sendCommand = ((command: { promise: Promise<unknown> }, stream?: unknown) => {
    const result = send(command as never, stream as never);
    if (inFlight++ === 0) apply();
    command.promise.then(done, done);
    return result;
  }) as typeof client.sendCommand;
  // a new socket starts ref'd; the reconnect timer is set just after 'reconnecting' is emitted
  // (ioredis emits status events on the next tick, by when it exists)
  client.on('connect', apply);
  client.on('ready', apply);
  client.on('reconnecting', apply);
  apply();
}
