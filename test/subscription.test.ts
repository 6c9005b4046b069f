import { afterEach, describe, it, expect, vi } from 'vitest';
import fc from 'fast-check';
import { BackendUnavailableError, CorruptionError, ValidationError, InvalidKeyError } from '../src/core/errors.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { catchUpSubscription, type CatchUpSource } from '../src/streams/subscription.js';
import { waitFor } from '../src/testing/event-log-support.js';

function ev(position: number, stream = 's'): RecordedEvent {
  return { id: `e${position}`, stream, revision: position, position, type: 'T', data: null, metadata: {}, time: new Date(0) };
}

/** An array-backed source with gaps in positions (like a SQL sequence), optionally without watch. */
function arraySource(watchable: boolean): CatchUpSource & { push(e: RecordedEvent): void; reads: number } {
  const rows: RecordedEvent[] = [];
  const watchers = new Set<() => void>();
  const src = {
    reads: 0,
    push(e: RecordedEvent) {
      rows.push(e);
      for (const w of watchers) w();
    },
    async *readAll(o: { fromPosition: number; limit: number }) {
      src.reads++;
      let n = 0;
      for (const r of rows.slice()) {
        if (r.position <= o.fromPosition) continue;
        if (n++ >= o.limit) return;
        await Promise.resolve();
        yield r;
      }
    },
    ...(watchable
      ? {
          watch(wake: () => void) {
            watchers.add(wake);
            return () => void watchers.delete(wake);
          },
        }
      : {}),
  };
  return src;
}

describe('catchUpSubscription', () => {
  it('delivers every event exactly once in order across page boundaries while events keep arriving (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 4 }), fc.nat(10), fc.boolean(), async (gaps, pageSize, preloaded, watchable) => {
        const src = arraySource(watchable);
        const positions: number[] = [];
        let p = 0;
        for (const g of gaps) positions.push((p += g));
        const pre = Math.min(preloaded, positions.length);
        for (const q of positions.slice(0, pre)) src.push(ev(q));
        const seen: number[] = [];
        const sub = catchUpSubscription(src, { pageSize, pollMs: watchable ? undefined : 2 }, async (e) => {
          seen.push(e.position);
          if (e.position % 3 === 0) await new Promise((r) => setTimeout(r, 0));
        });
        for (const q of positions.slice(pre)) {
          src.push(ev(q));
          if (q % 2 === 0) await new Promise((r) => setTimeout(r, 0));
        }
        await waitFor(() => seen.length >= positions.length, 20_000, 'all events');
        await sub.close();
        await sub.done;
        expect(seen).toEqual(positions);
      }),
      { numRuns: 60 },
    );
  });

  it('without watch, a subscription polls every pollMs', async () => {
    const src = arraySource(false);
    const seen: number[] = [];
    const sub = catchUpSubscription(src, { pollMs: 5 }, (e) => void seen.push(e.position));
    await new Promise((r) => setTimeout(r, 20));
    src.push(ev(4));
    await waitFor(() => seen.length === 1, 20_000, 'the polled event');
    await sub.close();
    expect(seen).toEqual([4]);
  });

  it('with a stream filter, events of other streams are skipped even when the source ignores the hint', async () => {
    const src = arraySource(true);
    src.push(ev(1, 'a'));
    src.push(ev(2, 'b'));
    const seen: string[] = [];
    const sub = catchUpSubscription(src, { stream: 'b' }, (e) => void seen.push(`${e.stream}${e.position}`));
    src.push(ev(3, 'a'));
    src.push(ev(4, 'b'));
    await waitFor(() => seen.length === 2, 20_000, 'two events of b');
    await sub.close();
    expect(seen).toEqual(['b2', 'b4']);
  });

  it('a source returning a position not after the last one rejects done with CorruptionError', async () => {
    const src: CatchUpSource = {
      readAll: () => [ev(2), ev(1)],
    };
    const sub = catchUpSubscription(src, {}, () => undefined);
    await expect(sub.done).rejects.toBeInstanceOf(CorruptionError);
  });

  it('a failing readAll rejects done with its error', async () => {
    const boom = new Error('connection lost');
    const src: CatchUpSource = {
      async *readAll() {
        throw boom;
      },
    };
    const sub = catchUpSubscription(src, {}, () => undefined);
    await expect(sub.done).rejects.toBe(boom);
  });

  it('bad options throw synchronously: negative fromPosition, pageSize 0 or pollMs < 0 is a ValidationError, an empty stream an InvalidKeyError', () => {
    const src = arraySource(true);
    expect(() => catchUpSubscription(src, { fromPosition: -1 }, () => undefined)).toThrow(ValidationError);
    expect(() => catchUpSubscription(src, { stream: '' }, () => undefined)).toThrow(InvalidKeyError);
    expect(() => catchUpSubscription(src, { pageSize: 0 }, () => undefined)).toThrow(ValidationError);
    expect(() => catchUpSubscription(src, { pollMs: -5 }, () => undefined)).toThrow(ValidationError);
  });

  it('close while idle resolves, unregisters the watcher and resolves done', async () => {
    let registered = 0;
    const src: CatchUpSource = {
      readAll: () => [],
      watch: () => {
        registered++;
        return () => void registered--;
      },
    };
    const sub = catchUpSubscription(src, {}, () => undefined);
    await new Promise((r) => setTimeout(r, 5));
    expect(registered).toBe(1);
    await sub.close();
    await expect(sub.done).resolves.toBeUndefined();
    expect(registered).toBe(0);
  });
});

describe('catchUpSubscription retries (retryForMs / retryIf)', () => {
  class Outage extends Error {}
  // The backoff and the retry window are checked on a fake clock (setTimeout and performance.now):
  // the exact schedule, with no wall-clock threshold to miss on a loaded machine.
  const fakeClock = (): void => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  afterEach(() => void vi.useRealTimers());
  /** Let promise chains run (setImmediate is not faked) without moving the fake clock. */
  const settle = async (turns = 20): Promise<void> => {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
  };

  /** rows 1..n; reads fail with Outage while `down`, possibly after yielding some events of the page */
  function flakySource(n: number): CatchUpSource & { down: boolean; failAfter: number; reads: number; readsAt: number[] } {
    const src = {
      down: false,
      failAfter: 0,
      reads: 0,
      /** performance.now() at each read */
      readsAt: [] as number[],
      async *readAll(o: { fromPosition: number; limit: number }) {
        src.reads++;
        src.readsAt.push(performance.now());
        let k = 0;
        for (let p = o.fromPosition + 1; p <= n && k < o.limit; p++, k++) {
          if (src.down && k >= src.failAfter) throw new Outage('down');
          await Promise.resolve();
          yield ev(p);
        }
        if (src.down) throw new Outage('down');
      },
    };
    return src;
  }

  it('property: outages inside the window, failing mid-page, deliver every event exactly once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 7 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 6 }), async (n, pageSize, fails) => {
        const src = flakySource(n);
        const seen: number[] = [];
        let outages = 0;
        const sub = catchUpSubscription(src, { pageSize, pollMs: 1, retryForMs: 10_000, retryIf: (e) => e instanceof Outage }, (e) => {
          seen.push(e.position);
          // go down now and then, to come back after a few failed reads
          if (outages < fails.length && seen.length % 3 === 0) {
            src.failAfter = fails[outages++]!;
            src.down = true;
            setTimeout(() => (src.down = false), 60);
          }
        });
        await waitFor(() => seen.length >= n, 30_000, 'every event');
        await sub.close();
        await sub.done;
        expect(seen).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      }),
      { numRuns: 25 },
    );
  });

  it('an outage longer than retryForMs rejects done with its last error at retryForMs, backing off 50 ms, 100 ms, then what is left of the window', async () => {
    fakeClock();
    const src = flakySource(3);
    src.down = true;
    const t0 = performance.now();
    let rejectedAt: number | undefined;
    const sub = catchUpSubscription(src, { pollMs: 1, retryForMs: 200, retryIf: (e) => e instanceof Outage }, () => undefined);
    sub.done.catch(() => void (rejectedAt = performance.now()));
    await vi.runAllTimersAsync();
    await expect(sub.done).rejects.toBeInstanceOf(Outage);
    expect(src.readsAt.map((t) => t - t0)).toEqual([0, 50, 150, 200]);
    expect(rejectedAt! - t0).toBe(200);
  });

  it('errors retryIf does not accept, and handler errors, end the subscription at once', async () => {
    const src = flakySource(3);
    src.down = true;
    const other = catchUpSubscription(src, { pollMs: 1, retryForMs: 10_000, retryIf: () => false }, () => undefined);
    await expect(other.done).rejects.toBeInstanceOf(Outage);
    expect(src.reads).toBe(1);
    const boom = new Error('handler');
    const ok = flakySource(3);
    const failing = catchUpSubscription(ok, { pollMs: 1, retryForMs: 10_000, retryIf: () => true }, () => {
      throw boom;
    });
    await expect(failing.done).rejects.toBe(boom);
    expect(ok.reads).toBe(1);
  });

  it('close() during an outage ends the backoff wait without its timer and resolves done', async () => {
    fakeClock();
    const src = flakySource(3);
    src.down = true;
    const sub = catchUpSubscription(src, { pollMs: 1, retryForMs: 60_000, retryIf: (e) => e instanceof Outage }, () => undefined);
    await vi.advanceTimersByTimeAsync(50);
    expect(src.reads).toBe(2); // waiting 100 ms (fake) before the third read
    let closed = false;
    const closing = sub.close().then(() => void (closed = true));
    await settle(); // the fake clock stands still: only close() can end the wait
    expect(closed, 'close() still waiting for the backoff timer').toBe(true);
    await closing;
    await expect(sub.done).resolves.toBeUndefined();
    expect(src.reads).toBe(2);
    expect(vi.getTimerCount()).toBe(0); // the backoff timer was cleared
  });

  it('wakes during an outage do not cut the backoff short (no retry per commit while reads fail)', async () => {
    const src = flakySource(3);
    src.down = true;
    let wake: (() => void) | undefined;
    const noisy = Object.assign(src, {
      watch(w: () => void) {
        wake = w;
        return () => (wake = undefined);
      },
    });
    fakeClock();
    const sub = catchUpSubscription(noisy, { retryForMs: 60_000, retryIf: (e) => e instanceof Outage }, () => undefined);
    /** a busy writer in the same process: a wake per commit */
    const pump = async (): Promise<void> => {
      for (let i = 0; i < 100; i++) {
        wake?.();
        await settle(1);
      }
    };
    await settle();
    expect(src.reads).toBe(1);
    await pump();
    expect(src.reads).toBe(1); // 100 wakes, no retry: only the 50 ms timer ends the wait
    await vi.advanceTimersByTimeAsync(50);
    expect(src.reads).toBe(2);
    await pump();
    expect(src.reads).toBe(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(src.reads).toBe(3);
    await sub.close();
    await expect(sub.done).resolves.toBeUndefined();
  });

  it('a read that fails after close() ends the subscription quietly: done resolves', async () => {
    let release: (() => void) | undefined;
    const slow: CatchUpSource = {
      async *readAll() {
        await new Promise<void>((r) => (release = r));
        throw new Outage('the read in flight when close() was called');
      },
    };
    const sub = catchUpSubscription(slow, { pollMs: 1, retryForMs: 60_000, retryIf: (e) => e instanceof Outage }, () => undefined);
    await waitFor(() => release !== undefined, 5_000, 'the read');
    const closing = sub.close();
    release!();
    await closing;
    await expect(sub.done).resolves.toBeUndefined();
  });

  it('without retryIf, BackendUnavailableError is what is retried (an outage), and nothing else', async () => {
    let reads = 0;
    const outage: CatchUpSource = {
      async *readAll() {
        reads++;
        throw new BackendUnavailableError('Test', 'down');
      },
    };
    fakeClock();
    const retried = catchUpSubscription(outage, { pollMs: 1, retryForMs: 150 }, () => undefined);
    const outcome = retried.done.then(() => 'resolved', (e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await outcome).toBeInstanceOf(BackendUnavailableError);
    expect(reads).toBe(3); // at 0, 50 and 150 ms (fake)
    vi.useRealTimers();
    const src = flakySource(3);
    src.down = true;
    const notRetried = catchUpSubscription(src, { pollMs: 1, retryForMs: 10_000 }, () => undefined);
    await expect(notRetried.done).rejects.toBeInstanceOf(Outage);
    expect(src.reads).toBe(1);
  });

  it('retryForMs is validated', () => {
    for (const retryForMs of [-1, Number.NaN, Infinity, '5' as unknown as number]) expect(() => catchUpSubscription(flakySource(1), { retryForMs }, () => undefined)).toThrow(ValidationError);
  });
});
