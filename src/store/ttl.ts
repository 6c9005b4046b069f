/**
 * TTL: an expired key is hidden by every read at once (reads pass the Store's clock to the views);
 * the sweeper then appends a `kv.expired` event per expired key, so the audit trail shows the
 * expiry, and the views drop the key. Each expiry is checked against the version that expired, so
 * a key set again meanwhile is left alone; several Stores sweeping the same log cannot expire a
 * key twice. Storage after expiry is bounded: the live keys plus what expired within one interval.
 */
import { ConcurrencyError } from '../core/errors.js';
import { keyedEvents, keyStream } from '../projections/keyed-events.js';
import type { StreamAppend } from '../streams/event-log.js';
import type { StoreContext } from './context.js';

const BATCH = 500;

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  /** the error of the last sweep, cleared by a sweep that succeeds (reported by status()) */
  lastError: unknown;

  constructor(private readonly ctx: StoreContext, private readonly intervalMs: number) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => {
      if (!this.running) this.sweep().catch(() => undefined); // kept in lastError for status()
    }, this.intervalMs);
    this.timer.unref();
  }

  /** Append expiry events for every key expired by now; resolves to how many were expired. */
  sweep(): Promise<number> {
    this.running ??= this.run().finally(() => (this.running = undefined));
    return this.running;
  }

  private async run(): Promise<number> {
    try {
      await this.ctx.open();
      let total = 0;
      for (;;) {
        await this.ctx.fresh();
        const now = this.ctx.now();
        const rows = await this.ctx.readers.kv.expired(now, BATCH);
        if (rows.length === 0) break;
        const appends: StreamAppend[] = rows.map((r) => ({
          stream: keyStream(r.namespace, r.key),
          events: [keyedEvents.expired(r.expiresAt!, { actor: 'dgent:sweeper', operation: 'expire' })],
          expectedRevision: r.version,
        }));
        let done = 0;
        try {
          if (this.ctx.atomicMany) done = (await this.ctx.appendMany(appends)).length;
          else throw new ConcurrencyError(0, 0);
        } catch (e) {
          if (!(e instanceof ConcurrencyError)) throw e;
          // one key changed meanwhile (or no appendMany): expire the others one by one
          for (const a of appends) {
            try {
              await this.ctx.append(a.stream, a.events, a.expectedRevision!);
              done++;
            } catch (err) {
              if (!(err instanceof ConcurrencyError)) throw err;
            }
          }
          await this.ctx.sync();
        }
        total += done;
        if (rows.length < BATCH || done === 0) break;
      }
      this.lastError = undefined;
      return total;
    } catch (e) {
      this.lastError = e;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }
}
