/**
 * A FIFO async mutex: `run(fn)` calls run one after another. Used to serialise read-modify-write
 * cycles inside one process so that optimistic concurrency only has to resolve conflicts between
 * processes.
 */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

/** Sleep for `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs = 2, capMs = 200): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
