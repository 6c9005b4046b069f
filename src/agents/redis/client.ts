/**
 * What RedisAgent and RedisEventLog share: how a connection is made from a URL, Lua scripts run
 * by SHA with a fallback to EVAL, key-part validation and the mapping of ioredis failures to
 * dgent errors. Only `dgent/redis` imports this file, so `import 'dgent'` never loads ioredis.
 */
import { createHash } from 'node:crypto';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { BackendUnavailableError, CorruptionError, DgentError, InvalidKeyError, ValidationError, shown } from '../../core/errors.js';
import { checkRedisUrl } from '../../core/connection-url.js';
import { loadDriver } from '../../core/drivers.js';
import { closedBeforeReply, connectFailure, refOnlyWhileBusy, refusedDatabase, STALL_CODE, watchConnection } from './connection.js';

/**
 * ioredis, loaded when `dgent/redis` is imported (not with a static import, so that a missing
 * package is reported as "dgent/redis needs the 'ioredis' package: npm install ioredis").
 */
const ioredis = loadDriver<typeof import('ioredis')>('dgent/redis', 'ioredis');

/** A connected ioredis client: a single node (`Redis`) or a cluster (`Cluster`). */
export type RedisClient = Redis | Cluster;

/** How a backend reaches Redis: an ioredis client you own, or a URL for a client it owns. */
export interface RedisConnectionOptions {
  /** An ioredis client. You keep ownership: `close()` does not quit it. Its own retry/queue settings apply. */
  redis?: RedisClient | undefined;
  /**
   * `redis://[user:password@]host:port[/db]` (or `rediss://`). The backend creates and closes its
   * own client. A malformed URL is a ValidationError at construction; a database the server does
   * not have is a ValidationError on first use, and nothing is written. The client keeps the
   * process alive only while a command waits for its reply (and while a `subscribe` lasts), so a
   * script that forgets `close()` still exits; call `close()` anyway to release the connection at once.
   */
  url?: string | undefined;
  /** Extra ioredis options for the client created from `url` (they override the fail-fast defaults below). */
  redisOptions?: RedisOptions | undefined;
}

/**
 * Defaults of the clients dgent creates from a URL. The aim: while Redis is unreachable, calls fail
 * with BackendUnavailableError within about a second instead of waiting in a queue for ever, and
 * everything works again by itself once the server is back.
 *
 * - `maxRetriesPerRequest: 0`: when the connection drops, the commands in flight and the ones waiting
 *   for the reconnect are rejected at once. A save whose reply was lost is never re-sent blindly.
 * - `enableOfflineQueue: true`: a command issued while a (re)connect attempt is under way waits for
 *   that one attempt only (the first call right after construction must not fail).
 * - `autoResendUnfulfilledCommands: false`: same reason as `maxRetriesPerRequest`.
 * - reconnect attempts back off from 50 ms to 1 s and never stop.
 * - `commandTimeout` 10 s: a server that accepts the connection but stops answering does not hang
 *   callers. On the clients dgent creates this is kept by a watchdog instead of ioredis's per-command
 *   timer (see watchStalls): the calls in flight fail and the connection is made again. A
 *   `redisOptions.commandTimeout` of your own sets the watchdog's time.
 */
export const FAIL_FAST_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 0,
  enableOfflineQueue: true,
  autoResendUnfulfilledCommands: false,
  connectTimeout: 5_000,
  commandTimeout: 10_000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), 1_000),
};

/**
 * The same fail-fast behaviour for an ioredis `Cluster` you create (`new Cluster(nodes,
 * FAIL_FAST_CLUSTER_OPTIONS)`): a command whose reply was lost to a dropped node connection fails
 * (BackendUnavailableError) instead of being re-sent. Besides the node options this takes
 * `retryDelayOnFailover: 0`, because the Cluster itself re-sends a command that failed with a
 * closed connection after that delay. Redirections (`MOVED` after a failover, `ASK` while a slot
 * migrates) are still followed: the command was not run there.
 *
 * While no node of the cluster can be reached (none of the startup nodes answers, at the start or
 * after losing them all), the Cluster queues every command until one does, for ever by default.
 * Here each failed attempt to reach the cluster (or a connect that finds it not ready:
 * `cluster_state:fail`) fails the commands queued meanwhile
 * (BackendUnavailableError), as a plain client's one connect attempt does, and the Cluster keeps
 * trying (100 ms, doubling to 2 s), so calls work again by themselves once a node answers.
 *
 * Spread it to change a field: `{ ...FAIL_FAST_CLUSTER_OPTIONS, natMap }`.
 */
export const FAIL_FAST_CLUSTER_OPTIONS = {
  retryDelayOnFailover: 0,
  clusterRetryStrategy(this: unknown, times: number, reason?: Error): number {
    // (flushQueue: ioredis's own, which rejects the queued commands; `this` is the Cluster)
    (this as { flushQueue?: (e: Error) => void } | undefined)?.flushQueue?.(new Error(`the Redis Cluster could not be reached or was not ready${reason ? ` (${reason.message})` : ''}; still trying`));
    return Math.min(100 * 2 ** Math.min(times - 1, 5), 2_000);
  },
  redisOptions: {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    connectTimeout: 5_000,
    commandTimeout: 10_000,
  },
} satisfies ClusterOptions; // (its own type: a plain ClusterOptions does not fit Cluster's constructor under exactOptionalPropertyTypes)

/** The client of a backend and whether the backend owns (and so closes) it. */
export interface ResolvedClient {
  client: RedisClient;
  owned: boolean;
}

/** Pick the caller's client or create one from the URL. */
export function resolveClient(options: RedisConnectionOptions, what: string): ResolvedClient {
  if (options.redis && options.url) throw new ValidationError(`${what}: pass either redis or url, not both`);
  if (options.redis) return { client: options.redis, owned: false };
  if (options.url === undefined) throw new ValidationError(`${what}: pass a redis client or a url (redis://host:port/db)`);
  checkRedisUrl(options.url, what);
  const settings = { ...FAIL_FAST_OPTIONS, ...options.redisOptions };
  const timeout = settings.commandTimeout;
  if (timeout !== undefined && (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0)) {
    throw new ValidationError(`${what}: redisOptions.commandTimeout must be a number > 0, got ${shown(timeout)}`);
  }
  // The watchdog (see watchStalls) makes the calls on a stalled connection fail only because, with
  // these two settings, ioredis rejects every command in flight when a connection closes; with
  // others it would keep them for a resend (or drop them unsettled), so ioredis keeps its own timer.
  const watched = timeout !== undefined && settings.maxRetriesPerRequest === 0 && settings.autoResendUnfulfilledCommands === false;
  const client = new ioredis.Redis(options.url, watched ? { ...settings, commandTimeout: undefined } : settings);
  // ioredis emits 'error' on every failed reconnect; the calls that fail report it to their callers
  // (watchConnection keeps the reason). Without a listener Node would end the process on the first
  // connection loss.
  watchConnection(client, what);
  refOnlyWhileBusy(client);
  if (watched) stopWatch.set(client, watchStalls(client, timeout));
  return { client, owned: true };
}

/** The watchdogs of the clients dgent created, stopped when the client is quit. */
const stopWatch = new WeakMap<RedisClient, () => void>();

/**
 * The command timeout of the clients dgent creates from a URL. ioredis's own `commandTimeout` arms
 * and clears a timer for every command, which cost 3-5 µs of CPU per call here (on a ~75 µs SET:
 * 0.89-0.95x the rate of a client without it). Redis answers a connection's commands in order, so
 * one check suffices: a timer that looks every `min(1 s, timeoutMs / 4)` at the command waiting
 * longest for its reply (the head of ioredis's public `commandQueue`); when the same command has
 * waited `timeoutMs`, the connection is destroyed. Every call in flight on it then fails (as
 * BackendUnavailableError) and ioredis reconnects, so a server that accepts the connection but stops
 * answering costs one timeout, not one per later call on the dead socket. A command is reported
 * after `timeoutMs` to `timeoutMs` + one period. Used only with `maxRetriesPerRequest: 0` and
 * `autoResendUnfulfilledCommands: false` (see resolveClient).
 */
export function watchStalls(client: Redis, timeoutMs: number): () => void {
  let head: unknown;
  let since = 0;
  const timer = setInterval(
    () => {
      const queue = client.commandQueue;
      const first: unknown = queue.length > 0 ? queue.peekFront() : undefined;
      if (first === undefined) {
        head = undefined;
        return;
      }
      const now = performance.now(); // monotonic: a wall-clock step must not look like a stall
      if (first !== head) {
        head = first;
        since = now;
      } else if (now - since >= timeoutMs) {
        head = undefined;
        client.stream?.destroy(Object.assign(new Error(`Redis did not answer a command within ${timeoutMs} ms`), { code: STALL_CODE, timeoutMs }));
      }
    },
    Math.max(1, Math.min(1_000, Math.floor(timeoutMs / 4))),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * A second connection (a second Cluster client, for a Cluster) for blocking reads or pub/sub,
 * with the same settings but no command timeout. It keeps the process alive while it exists (it exists only while someone subscribes).
 */
export function duplicateClient(client: RedisClient, what = 'Redis subscriber'): Redis {
  // a Cluster's duplicate takes (startupNodes, options), and the command timeout sits in its redisOptions
  const dup = (
    client instanceof ioredis.Cluster
      ? client.duplicate([], { redisOptions: { ...client.options.redisOptions, commandTimeout: undefined } })
      : client.duplicate({ commandTimeout: undefined } as RedisOptions)
  ) as Redis;
  watchConnection(dup, what);
  return dup;
}

/** Close a client politely, falling back to a hard disconnect when the server is gone. */
export async function quitClient(client: RedisClient): Promise<void> {
  try {
    if (client.status === 'end') return;
    if (client.status !== 'ready') {
      client.disconnect();
      return;
    }
    try {
      // a QUIT the server does not answer is the watchdog's (or ioredis's commandTimeout) to end
      await client.quit();
    } catch {
      client.disconnect(); // QUIT cannot reach a dead server; the socket is closed either way
    }
  } finally {
    stopWatch.get(client)?.();
    stopWatch.delete(client);
  }
}

/** Longest key or prefix accepted (characters). */
export const MAX_KEY_LENGTH = 1024;

/** Validate an untrusted key part: a non-empty, well-formed string without NUL, at most 1024 characters. */
export function validateKeyPart(key: unknown, what: string): string {
  if (typeof key !== 'string') throw new InvalidKeyError(key, `${what} must be a string`);
  if (key.length === 0) throw new InvalidKeyError(key, `${what} must not be empty`);
  if (key.length > MAX_KEY_LENGTH) throw new InvalidKeyError(key, `${what} longer than ${MAX_KEY_LENGTH} characters`);
  if (key.includes('\0')) throw new InvalidKeyError(key, `${what} must not contain NUL`);
  if (!key.isWellFormed()) throw new InvalidKeyError(key, `${what} contains a lone surrogate`);
  return key;
}

/** Validate a prefix: like a key, and without `{` `}` so that the hash tag dgent adds decides the slot. */
export function validatePrefix(prefix: unknown, what = 'prefix'): string {
  const p = validateKeyPart(prefix, what);
  if (p.length > 200) throw new InvalidKeyError(p, `${what} longer than 200 characters`);
  if (/[{}]/.test(p)) throw new InvalidKeyError(p, `${what} must not contain { or } (dgent adds the hash tag itself)`);
  return p;
}

const UNAVAILABLE_REPLIES = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|OOM|NOREPLICAS|MISCONF|MOVED|ASK)\b/;

/**
 * Map an ioredis failure to a dgent error. dgent errors pass through unchanged. With the `client`
 * the call ran on, a refused database is reported as its ValidationError, and a call that failed
 * because no connection could be made says why ("connection refused host:port").
 */
export function toDgentError(e: unknown, subject: string, client?: RedisClient): DgentError {
  if (e instanceof DgentError) return e;
  const refused = refusedDatabase(client);
  if (refused) return refused;
  const err = e instanceof Error ? e : new Error(String(e));
  if (err.name === 'ReplyError') {
    const msg = err.message;
    if (msg.startsWith('WRONGTYPE')) return new CorruptionError(`a key of ${subject} holds data of another type (not written by dgent)`, subject, { cause: err });
    if (msg.includes('DGENT_CORRUPT')) return new CorruptionError(`stored data of ${subject} is malformed: ${msg}`, subject, { cause: err });
    if (UNAVAILABLE_REPLIES.test(msg)) return new BackendUnavailableError('Redis', `${subject}: ${msg}`, { cause: err });
    return new DgentError(`Redis rejected a command for ${subject}: ${msg}`, 'DGENT_ERROR', { cause: err });
  }
  // connection closed, MaxRetriesPerRequestError, command timeout, offline queue disabled, ...
  const why = connectFailure(client);
  // ioredis's wording for "the connection closed before the reply" (maxRetriesPerRequest is 0)
  const closed = err.name === 'MaxRetriesPerRequestError' ? closedBeforeReply(client) : undefined;
  return new BackendUnavailableError('Redis', `${subject}: ${why ?? closed ?? err.message}`, { cause: err });
}

/**
 * `client` with every call's failure mapped by {@link toDgentError} (calls returning a promise;
 * others, such as `multi()` or `on()`, pass through). For clients handed to code that reports to
 * users: view readers, and projections' `ctx.redis`.
 */
export function mappedClient<C extends RedisClient>(client: C, subject: string): C {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(client, {
    get(target, p) {
      const v: unknown = Reflect.get(target, p, target);
      if (typeof v !== 'function') return v;
      let w = wrapped.get(p);
      if (w === undefined) {
        const fn = v as (...args: unknown[]) => unknown;
        w = (...args: unknown[]): unknown => {
          const r = fn.apply(target, args);
          return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(toDgentError(e, subject, target))) : r;
        };
        wrapped.set(p, w);
      }
      return w;
    },
  });
}

/** A Lua script run with EVALSHA, falling back to EVAL once when the server does not know it yet. */
export class LuaScript {
  readonly sha: string;
  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Run the script; failures come back as raw ioredis errors (map them with {@link toDgentError}). */
  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (e) {
      if (!(e instanceof Error) || !e.message.startsWith('NOSCRIPT')) throw e;
      // EVAL also caches the script, so the next call's EVALSHA succeeds (on this node)
      return await client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
