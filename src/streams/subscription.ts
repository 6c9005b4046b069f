/**
 * Catch-up subscriptions for any backend: read pages after the last delivered position, then wait
 * for a wake signal (or a poll tick) and read again. Because every read starts strictly after the
 * last position handed to the handler, the handover from catch-up to live can neither skip nor
 * repeat an event.
 *
 * A backend plugs in with two things:
 * - `readAll({ fromPosition, limit, stream })`: events with position > fromPosition in position
 *   order. It must never return an event while an earlier position can still appear later
 *   (PostgreSQL: hold back rows of transactions still in flight). It may filter by `stream`.
 * - `watch(wake)` (optional): call `wake()` whenever new events may be readable (after a commit,
 *   on LISTEN/NOTIFY, on a Redis message). Without it, or for writers in other processes, set
 *   `pollMs` so the subscription re-reads on a timer.
 *
 * The backend keeps the subscriptions it started (a {@link SubscriptionSet}) and, in its own
 * `close()`, awaits `closeAll()` BEFORE its reads start failing: a read that fails while the subscription runs rejects
 * `done`, as it should for a real failure.
 *
 * @example
 * ```ts
 * subscribe(options, handler) {
 *   return catchUpSubscription({ readAll: (o) => this.readPage(o), watch: (wake) => this.bus.on(wake) }, options, handler);
 * }
 * ```
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BackendUnavailableError, CorruptionError, ValidationError, shown } from '../core/errors.js';
import type { RecordedEvent, SubscribeOptions, Subscription } from './event-log.js';
import { nonNegativeMs, validateSubscribeOptions } from './validate.js';

/** Where a catch-up subscription reads from. */
export interface CatchUpSource {
  /** events with position > fromPosition, ascending, at most `limit`; filtering by `stream` is optional */
  readAll(options: { fromPosition: number; limit: number; stream?: string | undefined }): AsyncIterable<RecordedEvent> | Iterable<RecordedEvent>;
  /** register `wake` to be called when new events may be readable; returns the function that unregisters it */
  watch?(wake: () => void): () => void;
}

/** Options of {@link catchUpSubscription}. */
export interface CatchUpOptions extends SubscribeOptions {
  /** events read per page (default 256) */
  pageSize?: number | undefined;
  /** re-read every `pollMs` even without a wake (default: 100 without `watch`, never with it) */
  pollMs?: number | undefined;
  /**
   * Keep retrying a read that fails with an error `retryIf` accepts (an outage: the server
   * restarted, a connection dropped) for up to `retryForMs` of failures in a row, backing off from
   * 50 ms to 1 s, before `done` rejects with the last error (default 0: the first failure ends the
   * subscription). The window counts from the start of the first failing read, and is checked
   * when a read fails, so `done` rejects after `retryForMs` plus at most one read's own timeout.
   * Reads resume after the last delivered position, so nothing is skipped or repeated. A read that
   * fails after `close()` ends the subscription quietly (`done` resolves).
   */
  retryForMs?: number | undefined;
  /** which read errors are an outage worth retrying (default: BackendUnavailableError) */
  retryIf?: ((error: unknown) => boolean) | undefined;
}

/** A handler's own error, carried through the read loop untouched (it is never retried). */
class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** Identifies the subscription whose handler is running, so `close()` called from inside it does not wait for itself. */
const running = new AsyncLocalStorage<object>();

/**
 * Start a subscription: catch up from `fromPosition` (exclusive), then deliver live events, in
 * order and exactly once. The handler runs one event at a time; a throw stops the subscription
 * and rejects `done` with that error (nobody listening means an unhandled rejection: errors are
 * never swallowed). `close()` resolves once the handler is no longer running; `done` then resolves.
 */
export function catchUpSubscription(source: CatchUpSource, options: CatchUpOptions, handler: (e: RecordedEvent) => void | Promise<void>): Subscription {
  const { fromPosition, stream } = validateSubscribeOptions(options);
  const pageSize = options.pageSize ?? 256;
  const pollMs = options.pollMs ?? (source.watch ? undefined : 100);
  if (!Number.isInteger(pageSize) || pageSize < 1) throw new ValidationError(`pageSize must be an integer >= 1, got ${shown(pageSize)}`);
  if (pollMs !== undefined && !(pollMs > 0)) throw new ValidationError(`pollMs must be > 0, got ${shown(pollMs)}`);
  const retryForMs = nonNegativeMs(options.retryForMs, 'retryForMs', 0);
  const retryIf = options.retryIf ?? ((e: unknown) => e instanceof BackendUnavailableError);
  let last = fromPosition;
  let closed = false;
  let dirty = true;
  let resume: (() => void) | undefined;
  /** ends a retry wait (close() only) */
  let stopWaiting: (() => void) | undefined;
  const wake = (): void => {
    dirty = true;
    const r = resume;
    resume = undefined;
    r?.();
  };
  const token = {};

  const run = async (): Promise<void> => {
    const unwatch = source.watch?.(wake);
    let timer: NodeJS.Timeout | undefined;
    let failingSince: number | undefined;
    let backoff = 50;
    try {
      while (!closed) {
        dirty = false;
        let n = 0;
        const readStart = performance.now();
        try {
          for await (const e of source.readAll({ fromPosition: last, limit: pageSize, stream })) {
            if (closed) break;
            n++;
            if (!(e.position > last)) throw new CorruptionError(`subscription read position ${e.position} after ${last}: the log returned events out of order`);
            last = e.position;
            if (stream === undefined || e.stream === stream) {
              try {
                await running.run(token, () => handler(e));
              } catch (error) {
                throw new HandlerFailure(error);
              }
            }
          }
          failingSince = undefined;
          backoff = 50;
        } catch (error) {
          if (error instanceof HandlerFailure) throw error.error;
          if (closed) return; // a read that failed after close(): closing wins, done resolves
          if (retryForMs === 0 || !retryIf(error)) throw error;
          const now = performance.now();
          failingSince ??= readStart; // the outage began when the first failing read was sent
          if (now - failingSince >= retryForMs) throw error;
          // Wait out the outage, then read again from `last`. Only the timer or close() ends the
          // wait: wakes (local commits, the live edge retrying) must not turn the backoff into a
          // retry per commit while reads keep failing.
          await new Promise<void>((resolve) => {
            stopWaiting = resolve;
            timer = setTimeout(resolve, Math.min(backoff, failingSince! + retryForMs - now));
          });
          stopWaiting = undefined;
          clearTimeout(timer);
          backoff = Math.min(backoff * 2, 1_000);
          continue;
        }
        if (closed || n >= pageSize || dirty) continue;
        await new Promise<void>((resolve) => {
          resume = resolve;
          if (pollMs !== undefined) timer = setTimeout(wake, pollMs);
        });
        clearTimeout(timer);
      }
    } finally {
      clearTimeout(timer);
      unwatch?.();
    }
  };

  const done = run();
  return {
    done,
    async close(): Promise<void> {
      closed = true;
      stopWaiting?.();
      wake();
      if (running.getStore() === token) return; // called from our own handler: the loop stops after it returns
      await done.catch(() => undefined); // the error stays on `done` for whoever awaits it
    },
  };
}

/**
 * The subscriptions a log has started: each is forgotten when it ends, and the log's `close()`
 * closes the rest with {@link SubscriptionSet.closeAll} before its reads start failing.
 */
export class SubscriptionSet {
  private readonly live = new Set<Subscription>();

  /** Remember `sub` until it ends; returns it. */
  track<S extends Subscription>(sub: S): S {
    this.live.add(sub);
    const forget = (): void => void this.live.delete(sub);
    sub.done.then(forget, forget);
    return sub;
  }

  /** Close every subscription still running and wait for their handlers to stop. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.live].map((s) => s.close()));
  }
}
