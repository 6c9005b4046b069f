/**
 * The durable write queue of the `'primary-then-queue'` policy, kept in an embedded event log
 * (a SqliteEventLog or FileEventLog: an append that resolved survives `kill -9`).
 *
 * Streams, under `failover:<name>`:
 * - `/entries`: every write, in the order writes were made (revision = sequence number, event id = entry id);
 * - `/cursor/<backend>`: one `applying { revision, tokens }` per entry, appended before the entry
 *   is applied to that backend: the last one is where the backend's replay stands, and its tokens
 *   tell a re-apply what already landed (see target.ts), so a crash mid-replay duplicates nothing;
 * - `/cancelled`: entries no backend applied (a rejected or unserved write), skipped by replay.
 *
 * A write appends its entry, then applies it (and anything still queued before it) to the first
 * backend that is available, and resolves with that backend's answer; the other backends replay
 * it in order, now if they are up, else every `retryMs` until they are. Replay stops at the first
 * entry not yet decided (acknowledged or cancelled), so it never applies a write that fails.
 * One process owns a queue (its entries stream is appended with an expected revision).
 */
import { ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { Mutex } from '../core/mutex.js';
import type { EventLog } from '../streams/event-log.js';
import type { Ranked, WritePolicy } from './policy.js';
import { isUnavailable, message, type FailoverTarget, type Token } from './target.js';

/** One backend in `status()`. */
export interface FailoverBackendStatus {
  name: string;
  priority: number;
  /** answered the last probe or operation (undefined: not asked yet) */
  available: boolean | undefined;
  /** queued writes not yet applied to it */
  queued: number;
  /** nothing queued for it: reads may come from it */
  inSync: boolean;
  /** queued writes it rejected with an error other than BackendUnavailableError (skipped) */
  rejected: number;
  lastError?: string | undefined;
}

/** What `status()` of a fallback reports. */
export interface FailoverStatus {
  writes: WritePolicy;
  /** every backend available and in sync */
  healthy: boolean;
  /** queued writes over all backends (0 unless `'primary-then-queue'`) */
  queueDepth: number;
  backends: FailoverBackendStatus[];
}

interface Backend<Op> {
  name: string;
  priority: number;
  target: FailoverTarget<Op>;
  cursor: number;
  /** the entry whose intent was recorded but whose apply did not answer */
  pending: { revision: number; tokens: Token[] } | undefined;
  mutex: Mutex;
  available: boolean | undefined;
  rejected: number;
  lastError: string | undefined;
}

interface EntryData<Op> {
  op: Op;
  time: number;
}

export interface WriteQueueOptions<Op> {
  log: EventLog;
  /** names the queue's streams (several fallbacks may share one log) */
  name: string;
  backends: readonly { name: string; priority: number; target: FailoverTarget<Op> }[];
  retryMs: number;
  onFailover?: ((index: number, error: Error) => void) | undefined;
}

export class WriteQueue<Op> {
  readonly ready: Promise<void>;
  private readonly log: EventLog;
  private readonly prefix: string;
  private readonly backends: Backend<Op>[];
  private readonly writeLock = new Mutex();
  private readonly cancelled = new Set<number>();
  private head = 0;
  /** entries up to here are acknowledged or cancelled: replay may apply them */
  private decided = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: WriteQueueOptions<Op>) {
    this.log = options.log;
    if (!this.log || typeof this.log.append !== 'function' || typeof this.log.read !== 'function') throw new ValidationError("'primary-then-queue' needs queue: an EventLog (SqliteEventLog or FileEventLog) to keep the queue in");
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(options.name)) throw new ValidationError(`queueName ${JSON.stringify(options.name)} must be 1-64 letters, digits, '_', '.' or '-'`);
    if (!Number.isFinite(options.retryMs) || options.retryMs <= 0) throw new ValidationError(`retryMs must be a number > 0, got ${String(options.retryMs)}`);
    this.prefix = `failover:${options.name}`;
    this.backends = options.backends.map((b) => ({ ...b, cursor: 0, pending: undefined, mutex: new Mutex(), available: undefined, rejected: 0, lastError: undefined }));
    this.ready = this.recover();
    this.ready.then(
      () => this.kick(),
      () => undefined,
    );
  }

  private get entries(): string {
    return `${this.prefix}/entries`;
  }

  private cursorStream(b: Backend<Op>): string {
    return `${this.prefix}/cursor/${b.name}`;
  }

  /** Read where every backend stands. Entries a crash left undecided count as acknowledged. */
  private async recover(): Promise<void> {
    this.head = await this.log.revision(this.entries);
    for await (const e of this.log.read(`${this.prefix}/cancelled`)) this.cancelled.add((e.data as { revision: number }).revision);
    for (const b of this.backends) {
      for await (const e of this.log.read(this.cursorStream(b), { direction: 'backward', limit: 1 })) {
        const d = e.data as { revision: number; tokens: Token[] };
        b.pending = { revision: d.revision, tokens: d.tokens };
        b.cursor = d.revision - 1;
      }
    }
    this.decided = this.head;
    // settle what a crash left in doubt now, so that status() counts only what is really queued
    for (const b of this.backends) {
      if (b.pending) await b.mutex.run(() => this.settle(b)).catch((e: unknown) => void (b.lastError = message(e)));
    }
  }

  /** Queued writes not yet applied to backend `i`. */
  depth(i: number): number {
    const b = this.backends[i]!;
    let n = this.decided - b.cursor;
    for (const r of this.cancelled) if (r > b.cursor && r <= this.decided && r !== b.pending?.revision) n--;
    return n;
  }

  /**
   * Append `op`, then apply it on the first backend that is available (catching that backend up
   * first); resolves with its answer and index. BackendUnavailableError when none could.
   */
  write<R>(op: Op): Promise<{ result: R; index: number }> {
    return this.writeLock.run(async () => {
      if (this.closed) throw new ValidationError('write queue closed');
      await this.ready;
      const data: EntryData<Op> = { op, time: Date.now() };
      const r = (await this.log.append(this.entries, [{ type: 'write', data, id: newId() }], { expectedRevision: this.head })).revision;
      this.head = r;
      let first: Error | undefined;
      try {
        // backends known to be down come last: the replay retries them in the background, so a
        // server that hangs rather than refuses does not hold up every write with its timeout
        const idx = this.backends.map((_, i) => i);
        for (const i of [...idx.filter((j) => this.backends[j]!.available !== false), ...idx.filter((j) => this.backends[j]!.available === false)]) {
          const b = this.backends[i]!;
          try {
            const result = (await b.mutex.run(() => this.drainBackend(b, r, r, { revision: r, op }))) as R;
            return { result, index: i };
          } catch (e) {
            if (!isUnavailable(e)) {
              await this.cancel(r);
              throw e;
            }
            first ??= e;
            this.options.onFailover?.(i, e);
          }
        }
        // in doubt on a backend (its write failed mid-way): keep it, so that every backend converges on it
        if (!this.backends.some((b) => b.pending?.revision === r)) await this.cancel(r);
        throw first!;
      } finally {
        this.decided = r;
        this.kick();
      }
    });
  }

  private async cancel(r: number): Promise<void> {
    await this.log.append(`${this.prefix}/cancelled`, [{ type: 'cancelled', data: { revision: r } }]);
    this.cancelled.add(r);
  }

  private async entry(r: number): Promise<Op> {
    for await (const e of this.log.read(this.entries, { fromRevision: r, toRevision: r })) return (e.data as EntryData<Op>).op;
    throw new ValidationError(`write queue ${this.prefix}: entry ${r} is missing`);
  }

  /** Apply what is queued for `b` up to `upTo` (run under b.mutex); the answer of `strict` is returned and its error thrown. */
  private async drainBackend(b: Backend<Op>, upTo: number, strict?: number, fresh?: { revision: number; op: Op }): Promise<unknown> {
    let out: unknown;
    try {
      out = await this.settle(b, strict);
      while (b.cursor < upTo) {
        const batch: { revision: number; op: Op }[] = [];
        // the write just appended is at hand: a backend that is up to date needs no read of the log
        if (fresh && fresh.revision === b.cursor + 1 && fresh.revision === upTo) batch.push(fresh);
        else for await (const e of this.log.read(this.entries, { fromRevision: b.cursor + 1, toRevision: upTo, limit: 256 })) batch.push({ revision: e.revision, op: (e.data as EntryData<Op>).op });
        if (batch.length === 0) throw new ValidationError(`write queue ${this.prefix}: entries ${b.cursor + 1}..${upTo} are missing`);
        for (const { revision, op } of batch) {
          if (this.cancelled.has(revision)) {
            b.cursor = revision;
            continue;
          }
          const isStrict = revision === strict;
          let tokens: Token[];
          try {
            tokens = await b.target.tokens(op, isStrict);
          } catch (e) {
            // refused before anything was applied (access denied, a bad key...): skipped like a rejected apply
            if (isUnavailable(e) || isStrict) throw e;
            b.cursor = revision;
            this.reject(b, e);
            continue;
          }
          await this.log.append(this.cursorStream(b), [{ type: 'applying', data: { revision, tokens } }]);
          b.pending = { revision, tokens };
          try {
            const result = await b.target.apply(op, tokens, false);
            if (isStrict) out = result;
          } catch (e) {
            if (isUnavailable(e)) throw e;
            b.pending = undefined;
            b.cursor = revision;
            if (isStrict) throw e;
            this.reject(b, e);
            continue;
          }
          b.pending = undefined;
          b.cursor = revision;
        }
      }
      b.available = true;
      return out;
    } catch (e) {
      if (isUnavailable(e)) {
        b.available = false;
        b.lastError = message(e);
      }
      throw e;
    }
  }

  /** Re-apply the entry whose apply did not answer, skipping what landed (the tokens tell); its answer when it is `strict`. */
  private async settle(b: Backend<Op>, strict?: number): Promise<unknown> {
    const p = b.pending;
    if (!p) return undefined;
    if (this.cancelled.has(p.revision)) {
      b.cursor = p.revision;
      b.pending = undefined;
      return undefined;
    }
    let out: unknown;
    try {
      const result = await b.target.apply(await this.entry(p.revision), p.tokens, true);
      if (p.revision === strict) out = result;
    } catch (e) {
      if (isUnavailable(e)) throw e;
      this.reject(b, e);
      if (p.revision === strict) {
        b.pending = undefined;
        b.cursor = p.revision;
        throw e;
      }
    }
    b.pending = undefined;
    b.cursor = p.revision;
    return out;
  }

  private reject(b: Backend<Op>, e: unknown): void {
    b.rejected++;
    b.lastError = message(e);
  }

  /** Replay now what is queued for every backend that is behind; resolves to the writes still queued. */
  drain(): Promise<number> {
    this.draining ??= (async () => {
      try {
        await this.ready;
        for (const b of this.backends) {
          if (b.cursor >= this.decided && !b.pending) continue;
          const upTo = this.decided;
          await b.mutex.run(() => this.drainBackend(b, upTo)).catch((e: unknown) => {
            if (!isUnavailable(e)) b.lastError = message(e);
          });
        }
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining.then(() => this.depthTotal());
  }

  depthTotal(): number {
    let n = 0;
    for (let i = 0; i < this.backends.length; i++) n += this.depth(i);
    return n;
  }

  /** Drain soon, then every retryMs while anything is queued. */
  private kick(): void {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.drain().then((left) => {
        if (left > 0 && !this.closed && !this.timer) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.kick();
          }, this.options.retryMs);
          this.timer.unref();
        }
      });
    }, 0);
    this.timer.unref();
  }

  inSync(i: number): boolean {
    return this.depth(i) === 0;
  }

  backendStatus(i: number): FailoverBackendStatus {
    const b = this.backends[i]!;
    const q = this.depth(i);
    const s: FailoverBackendStatus = { name: b.name, priority: b.priority, available: b.available, queued: q, inSync: q === 0, rejected: b.rejected };
    if (b.lastError !== undefined) s.lastError = b.lastError;
    return s;
  }

  setAvailable(i: number, available: boolean, error?: unknown): void {
    const b = this.backends[i]!;
    b.available = available;
    if (error !== undefined) b.lastError = message(error);
  }

  /** Stop replaying (what is queued stays in the log for the next process). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.writeLock.run(async () => undefined);
    await this.draining?.catch(() => undefined);
  }
}

/**
 * The status of a fallback (agents or Stores): every backend probed now; with a queue, the queue's
 * figures for it (the probe also tells the queue whether it is available).
 */
export async function failoverStatus<Op>(writes: WritePolicy, ranked: readonly Ranked<unknown>[], targets: readonly FailoverTarget<Op, unknown>[], queue: WriteQueue<Op> | undefined): Promise<FailoverStatus> {
  await queue?.ready;
  const backends = await Promise.all(
    ranked.map(async (b, i) => {
      let available = true;
      let error: unknown;
      try {
        await targets[i]!.probe();
      } catch (e) {
        available = false;
        error = e;
      }
      if (queue) {
        queue.setAvailable(i, available, error);
        return queue.backendStatus(i);
      }
      const s: FailoverBackendStatus = { name: b.name, priority: b.priority, available, queued: 0, inSync: true, rejected: 0 };
      if (error !== undefined) s.lastError = message(error);
      return s;
    }),
  );
  return { writes, healthy: backends.every((b) => b.available && b.inSync), queueDepth: backends.reduce((n, b) => n + b.queued, 0), backends };
}
