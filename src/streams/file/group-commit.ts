/**
 * Group commit: requests that arrive while a flush is in flight wait, and the next flush takes
 * all of them at once. With one write and one fsync per flush, N concurrent appenders share one
 * fsync instead of queueing for N.
 */

/** The outcome of one request in a flushed batch: a value, or the error of that request alone. */
export type Outcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiter<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/** Batches submitted items into calls of `flush`, one call at a time, in submission order. */
export class GroupCommit<T, R> {
  private queue: Waiter<T, R>[] = [];
  private running: Promise<void> | undefined;

  /** `flush` settles each item; throwing fails the whole batch. */
  constructor(private readonly flush: (items: readonly T[]) => Promise<Outcome<R>[]>) {}

  /** Queue an item; resolves when the batch holding it is durable (or rejects with its error). */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves when nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    // let appends issued in the same tick join the first batch
    await Promise.resolve();
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        let outcomes: Outcome<R>[];
        try {
          outcomes = await this.flush(batch.map((w) => w.item));
        } catch (e) {
          for (const w of batch) w.reject(e);
          continue;
        }
        batch.forEach((w, i) => {
          const o = outcomes[i]!;
          if (o.ok) w.resolve(o.value);
          else w.reject(o.error);
        });
      }
    } finally {
      this.running = undefined;
    }
  }
}
