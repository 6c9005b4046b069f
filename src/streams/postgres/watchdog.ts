/**
 * The client-side read timeout of the pool a PostgresEventLog creates, kept by one timer.
 *
 * pg's own `query_timeout` arms and clears a timer for every query; on a sequential append that was
 * 4-9 µs of CPU and up to ~10 µs of latency (A/B in one process, the log's statement sent by raw pg
 * with and without it, 2026-11-30). Here the pool's public events do the bookkeeping instead: a
 * client is busy from 'acquire' to 'release', which for `pool.query` is exactly one statement. A
 * client held across several statements (a transaction with hooks, the LISTEN connection, schema
 * creation) is handed out through {@link QueryWatchdog.hold}, which times each of its statements
 * instead. A timer looks every `min(1 s, timeoutMs / 4)`; a statement that has waited `timeoutMs`
 * for its reply gets its connection destroyed, so the statement fails (BackendUnavailableError,
 * via an ETIMEDOUT error) and the pool replaces the connection. A stall is reported after
 * `timeoutMs` to `timeoutMs` + one period.
 */
import type { ListenClient } from './listener.js';

/** The pool events the watchdog listens to (pg-pool's). */
export interface PoolEvents {
  on(event: 'acquire' | 'remove', fn: (client: object) => void): unknown;
  on(event: 'release', fn: (err: unknown, client: object) => void): unknown;
}

export class QueryWatchdog {
  /** what is waiting for a reply: a busy client (key: the client) or one statement of a held client (key: a token) */
  private readonly waiting = new Map<object, { client: object; since: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    pool: PoolEvents,
    readonly timeoutMs: number,
  ) {
    pool.on('acquire', (client) => void this.waiting.set(client, { client, since: performance.now() }));
    pool.on('release', (_err, client) => void this.waiting.delete(client));
    pool.on('remove', (client) => void this.waiting.delete(client));
    this.timer = setInterval(() => this.check(), Math.max(1, Math.min(1_000, Math.floor(timeoutMs / 4))));
    this.timer.unref();
  }

  /**
   * A client from `pool.connect()` that is held across statements: no longer timed as a whole; the
   * returned view times each statement sent through it.
   */
  hold(client: ListenClient): ListenClient {
    this.waiting.delete(client);
    return {
      query: (text, values) => this.timed(client, client.query(text, values)),
      on: (event, fn) => client.on(event, fn),
      removeAllListeners: (event) => client.removeAllListeners(event),
      release: (destroy) => client.release(destroy),
    };
  }

  /** Stop the timer (the log is closing). */
  stop(): void {
    clearInterval(this.timer);
    this.waiting.clear();
  }

  /**
   * A statement's clock starts when it is handed to the client, not when pg sends it: statements
   * queued behind each other on one held client (hooks sending several `tx.query` at once) count
   * their wait in the queue too. The log's own code awaits each statement before the next.
   */
  private timed<T>(client: object, p: Promise<T>): Promise<T> {
    const token = {};
    this.waiting.set(token, { client, since: performance.now() });
    const done = (): void => void this.waiting.delete(token);
    p.then(done, done);
    return p;
  }

  private check(): void {
    if (this.waiting.size === 0) return;
    const limit = performance.now() - this.timeoutMs; // monotonic: a wall-clock step is no stall
    for (const [key, { client, since }] of this.waiting) {
      if (since > limit) continue;
      for (const [k, w] of this.waiting) if (w.client === client) this.waiting.delete(k);
      this.waiting.delete(key);
      kill(client, this.timeoutMs);
    }
  }
}

/** Destroy a client's socket: its statements fail at once and the pool discards it. */
function kill(client: object, timeoutMs: number): void {
  const error = Object.assign(new Error(`Query read timeout: PostgreSQL did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
  const stream = (client as { connection?: { stream?: { destroy(e?: Error): void } } }).connection?.stream;
  if (stream && typeof stream.destroy === 'function') stream.destroy(error);
  else void (client as { end?: () => Promise<void> }).end?.().catch(() => undefined);
}
