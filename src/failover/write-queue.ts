/**
 * The durable write queue of the `'primary-then-queue'` policy, kept in a {@link QueueStore}
 * (a SqliteQueue, compacted; or an EventLog, append-only; see queue-store.ts).
 *
 * Fast path: while every backend is available and in sync (nothing queued, nothing in doubt), a
 * write goes to each backend in priority order and the queue is not touched at all; the caller's
 * write is acknowledged once the first one took it and the others were tried. Each apply expects
 * the version the target's last apply left (a cached token, so no read): a stale guess is a
 * ConcurrencyError, retried once with the version read. Only when a backend missed it (down, or
 * its apply failed in a way that leaves it in doubt) is one entry appended, in one transaction
 * with the cursors of the backends that have it (and the tokens of the one in doubt).
 *
 * Slow path (some backend is behind or known down): the write's entry is appended first, then
 * applied (catching that backend up first) to the first backend that is available, with its
 * intent and tokens recorded with the entry (or just before, `applying`), so a crash mid-apply
 * duplicates nothing.
 * The others replay it in order, now if they are up, else every `retryMs` until they are. Replay
 * stops at the first entry not yet decided (acknowledged or cancelled), so it never applies a
 * write that fails.
 *
 * `run(exec)` is for operations that cannot be queued as such (a transaction's function, an
 * update recipe): `exec` runs on the first available backend (caught up first) and returns the
 * plain writes it made, which go to the others as above.
 *
 * Compaction: once every backend has applied entries up to some sequence number, they are deleted
 * in the same transaction that saves the cursors (a SqliteQueue; an EventLog cannot delete).
 * Known window: the fast path writes nothing before the applies, so a process that dies between
 * two backends' applies leaves that one unacknowledged write on the first only.
 * One process owns a queue (appends expect its head).
 */
import { ConcurrencyError, ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import type { Ranked, WritePolicy } from './policy.js';
import type { QueueStore } from './queue-store.js';
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
  /** when the write was queued (epoch ms): replays carry it as `queuedAt` */
  time: number;
}

export interface WriteQueueOptions<Op> {
  store: QueueStore;
  /** names the queue (several fallbacks may share one store) */
  name: string;
  backends: readonly { name: string; priority: number; target: FailoverTarget<Op> }[];
  retryMs: number;
  onFailover?: ((index: number, error: Error) => void) | undefined;
  /** awaited when backend `index` is found down, before the write goes to the next one (subscriptions move first) */
  beforeFailover?: ((index: number) => Promise<void>) | undefined;
}

/** What one immediate apply came to. */
type Outcome<R> = { ok: true; result: R } | { ok: false; error: unknown; tokens: Token[] | undefined } | { ok: 'behind' };

export class WriteQueue<Op> {
  readonly ready: Promise<void>;
  private readonly store: QueueStore;
  private readonly name: string;
  private readonly backends: Backend<Op>[];
  private readonly writeLock = new Mutex();
  private readonly cancelled = new Set<number>();
  private head = 0;
  /** entries up to here are acknowledged or cancelled: replay may apply them */
  private decided = 0;
  /** entries up to here are deleted from the store */
  private compacted = 0;
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: WriteQueueOptions<Op>) {
    this.store = options.store;
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(options.name)) throw new ValidationError(`queueName ${JSON.stringify(options.name)} must be 1-64 letters, digits, '_', '.' or '-'`);
    if (!Number.isFinite(options.retryMs) || options.retryMs <= 0) throw new ValidationError(`retryMs must be a number > 0, got ${shown(options.retryMs)}`);
    this.name = options.name;
    this.backends = options.backends.map((b) => ({ ...b, cursor: 0, pending: undefined, mutex: new Mutex(), available: undefined, rejected: 0, lastError: undefined }));
    this.ready = this.recover();
    this.ready.then(
      () => this.kick(),
      () => undefined,
    );
  }

  /** Read where every backend stands. Entries a crash left undecided count as acknowledged. */
  private async recover(): Promise<void> {
    const snap = await this.store.load(this.name, this.backends.map((b) => b.name));
    this.head = snap.head;
    for (const r of snap.cancelled) this.cancelled.add(r);
    for (const b of this.backends) {
      const c = snap.cursors.get(b.name)!;
      b.cursor = c.cursor;
      b.pending = c.pending;
    }
    this.decided = this.head;
    this.compacted = Math.min(...this.backends.map((b) => b.cursor));
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

  private upToDate(b: Backend<Op>): boolean {
    return b.cursor >= this.head && !b.pending;
  }

  /** Backends known down last: the replay retries them in the background, so a server that hangs rather than refuses does not hold up every write with its timeout. */
  private order(): number[] {
    const idx = this.backends.map((_, i) => i);
    return [...idx.filter((j) => this.backends[j]!.available !== false), ...idx.filter((j) => this.backends[j]!.available === false)];
  }

  /**
   * Write `op` on the first backend that is available and to the others (now, or queued for
   * them); resolves with the first one's answer and index. BackendUnavailableError when none could.
   */
  write<R>(op: Op): Promise<{ result: R; index: number }> {
    return this.writeLock.run(async () => {
      if (this.closed) throw new ValidationError('write queue closed');
      await this.ready;
      if (this.decided === this.head && this.backends.every((b) => b.available !== false && this.upToDate(b))) return this.fast<R>(op);
      return this.slow<R>(op);
    });
  }

  /**
   * Run `exec` on the first available backend (caught up first), then write the plain op it
   * returns to the others (now, or queued). Used for operations that cannot be queued as such.
   */
  run<R>(exec: (index: number) => Promise<{ result: R; op: Op | undefined }>): Promise<{ result: R; index: number }> {
    return this.writeLock.run(async () => {
      if (this.closed) throw new ValidationError('write queue closed');
      await this.ready;
      let first: Error | undefined;
      for (const i of this.order()) {
        const b = this.backends[i]!;
        try {
          const out = await b.mutex.run(async () => {
            await this.drainBackend(b, this.decided);
            return exec(i);
          });
          b.available = true;
          if (out.op !== undefined) await this.spread(out.op, [b.name], [], Date.now(), i);
          return { result: out.result, index: i };
        } catch (e) {
          if (!isUnavailable(e)) throw e;
          await this.down(i, e);
          first ??= e;
        }
      }
      throw first!;
    });
  }

  private async down(i: number, e: Error): Promise<void> {
    const b = this.backends[i]!;
    b.available = false;
    b.lastError = message(e);
    this.options.onFailover?.(i, e);
    await this.options.beforeFailover?.(i);
  }

  /** Apply `op` to `b` at once (under its mutex): with cached tokens, once more with read ones after a ConcurrencyError. */
  private applyNow<R>(b: Backend<Op>, op: Op, strict: boolean): Promise<Outcome<R>> {
    return b.mutex.run(async () => {
      if (!this.upToDate(b)) return { ok: 'behind' };
      let tokens: Token[] | undefined;
      try {
        // the write the caller waits for reads its tokens: a backend that is down fails that read, so a
        // write refused everywhere is not left in doubt (and never appears later); the copies to the
        // other backends, of a write already acknowledged, may guess them
        tokens = await b.target.tokens(op, strict, !strict);
        try {
          return { ok: true, result: (await b.target.apply(op, tokens, false)) as R };
        } catch (e) {
          if (!(e instanceof ConcurrencyError)) throw e;
        }
        tokens = undefined;
        tokens = await b.target.tokens(op, strict, false);
        return { ok: true, result: (await b.target.apply(op, tokens, false)) as R };
      } catch (e) {
        return { ok: false, error: e, tokens };
      }
    });
  }

  /** Every backend up to date: apply everywhere now; queue only for those that missed it. */
  private async fast<R>(op: Op): Promise<{ result: R; index: number }> {
    const pending: { backend: string; tokens: Token[] }[] = [];
    let first: Error | undefined;
    for (const i of this.order()) {
      const b = this.backends[i]!;
      const o = await this.applyNow<R>(b, op, true);
      if (o.ok === true) {
        b.available = true;
        await this.spread(op, [b.name], pending, Date.now(), i);
        return { result: o.result, index: i };
      }
      if (o.ok === 'behind') continue;
      if (!isUnavailable(o.error)) {
        // refused (a stale expectedVersion...): nothing written, like a cancelled entry
        throw o.error;
      }
      await this.down(i, o.error);
      first ??= o.error;
      // the apply may have landed: remember its tokens, so that a re-apply knows
      if (o.tokens) pending.push({ backend: b.name, tokens: o.tokens });
    }
    // none took it; one in doubt keeps it, so that every backend converges on it
    if (pending.length > 0) await this.spread(op, [], pending, Date.now(), -1);
    throw first!;
  }

  /**
   * `op` is on the backends named in `done` (`skip` is the one that acknowledged it): apply it
   * now to every other backend that is up to date, and append one entry for those that missed it.
   */
  private async spread(op: Op, done: string[], pending: { backend: string; tokens: Token[] }[], time: number, skip: number): Promise<void> {
    const inDoubt = new Set(pending.map((p) => p.backend));
    let missed = false;
    for (const i of this.order()) {
      const b = this.backends[i]!;
      if (i === skip || inDoubt.has(b.name) || done.includes(b.name)) continue;
      if (b.available === false) {
        missed = true;
        continue;
      }
      const o = await this.applyNow(b, op, false);
      if (o.ok === true) {
        b.available = true;
        done.push(b.name);
      } else if (o.ok === 'behind') missed = true;
      else if (isUnavailable(o.error)) {
        await this.down(i, o.error);
        if (o.tokens) {
          pending.push({ backend: b.name, tokens: o.tokens });
          inDoubt.add(b.name);
        } else missed = true;
      } else {
        // rejected there (like a rejected replay): skipped and counted
        this.reject(b, o.error);
        done.push(b.name);
      }
    }
    if (!missed && pending.length === 0) return;
    const data: EntryData<Op> = { op, time };
    const r = await this.store.append(this.name, this.head, data, done, pending);
    this.head = r;
    this.decided = r;
    for (const b of this.backends) {
      if (done.includes(b.name)) b.cursor = r;
      const p = pending.find((x) => x.backend === b.name);
      if (p) {
        b.cursor = r - 1;
        b.pending = { revision: r, tokens: p.tokens };
      }
    }
    this.kick();
  }

  /**
   * Some backend is behind or down: append the entry first, then apply it where it can be
   * acknowledged. When the first backend in order is up to date, its tokens are written with the
   * entry (one queue transaction a write, instead of the entry then an `applying` record).
   */
  private async slow<R>(op: Op): Promise<{ result: R; index: number }> {
    const data: EntryData<Op> = { op, time: Date.now() };
    const order = this.order();
    let r: number | undefined;
    let first: Error | undefined;
    try {
      const i0 = order[0]!;
      const b0 = this.backends[i0]!;
      let tried = false;
      if (b0.available !== false) {
        const o = await b0.mutex.run(async (): Promise<{ result: unknown } | Error | undefined> => {
          if (!this.upToDate(b0)) return undefined;
          tried = true;
          let tokens: Token[];
          try {
            tokens = await b0.target.tokens(op, true);
          } catch (e) {
            if (isUnavailable(e)) return e;
            throw e; // refused before anything was queued
          }
          const rev = await this.store.append(this.name, this.head, data, [], [{ backend: b0.name, tokens }]);
          r = rev;
          this.head = rev;
          b0.cursor = rev - 1;
          b0.pending = { revision: rev, tokens };
          try {
            const result = await b0.target.apply(op, tokens, false);
            b0.pending = undefined;
            b0.cursor = rev;
            return { result };
          } catch (e) {
            if (isUnavailable(e)) return e; // in doubt: stays pending, settled when it is back
            b0.pending = undefined;
            b0.cursor = rev;
            throw e;
          }
        });
        if (o !== undefined && !(o instanceof Error)) {
          b0.available = true;
          return { result: o.result as R, index: i0 };
        }
        if (o instanceof Error) {
          first = o;
          await this.down(i0, o);
        }
      }
      if (r === undefined) {
        r = await this.store.append(this.name, this.head, data, [], []);
        this.head = r;
      }
      const rev = r;
      for (const i of order) {
        if (tried && i === i0) continue;
        const b = this.backends[i]!;
        try {
          const result = (await b.mutex.run(() => this.drainBackend(b, rev, rev, { revision: rev, data }))) as R;
          return { result, index: i };
        } catch (e) {
          if (!isUnavailable(e)) throw e;
          first ??= e;
          this.options.onFailover?.(i, e);
          await this.options.beforeFailover?.(i);
        }
      }
      // in doubt on a backend (its write failed mid-way): keep it, so that every backend converges on it
      if (!this.backends.some((b) => b.pending?.revision === rev)) await this.cancel(rev);
      throw first!;
    } catch (e) {
      if (!isUnavailable(e) && r !== undefined && !this.cancelled.has(r)) await this.cancel(r);
      throw e;
    } finally {
      if (r !== undefined) this.decided = r;
      this.kick();
    }
  }

  private async cancel(r: number): Promise<void> {
    await this.store.cancel(this.name, r);
    this.cancelled.add(r);
  }

  private async entry(r: number): Promise<EntryData<Op>> {
    const [e] = await this.store.read(this.name, r, r, 1);
    if (!e) throw new ValidationError(`write queue ${this.name}: entry ${r} is missing`);
    return e.data as EntryData<Op>;
  }

  /** Apply what is queued for `b` up to `upTo` (run under b.mutex); the answer of `strict` is returned and its error thrown. */
  private async drainBackend(b: Backend<Op>, upTo: number, strict?: number, fresh?: { revision: number; data: EntryData<Op> }): Promise<unknown> {
    let out: unknown;
    try {
      out = await this.settle(b, strict);
      while (b.cursor < upTo) {
        let batch: { revision: number; data: EntryData<Op> }[];
        // the write just appended is at hand: a backend that is up to date needs no read of the queue
        if (fresh && fresh.revision === b.cursor + 1 && fresh.revision === upTo) batch = [fresh];
        else batch = (await this.store.read(this.name, b.cursor + 1, upTo, 256)).map((e) => ({ revision: e.revision, data: e.data as EntryData<Op> }));
        if (batch.length === 0) throw new ValidationError(`write queue ${this.name}: entries ${b.cursor + 1}..${upTo} are missing`);
        for (const { revision, data } of batch) {
          if (this.cancelled.has(revision)) {
            b.cursor = revision;
            continue;
          }
          const isStrict = revision === strict;
          let tokens: Token[];
          try {
            tokens = await b.target.tokens(data.op, isStrict);
          } catch (e) {
            // refused before anything was applied (access denied, a bad key...): skipped like a rejected apply
            if (isUnavailable(e) || isStrict) throw e;
            b.cursor = revision;
            this.reject(b, e);
            continue;
          }
          await this.store.applying(this.name, b.name, revision, tokens);
          b.pending = { revision, tokens };
          try {
            const result = await b.target.apply(data.op, tokens, false, isStrict ? undefined : data.time);
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
      const data = await this.entry(p.revision);
      const result = await b.target.apply(data.op, p.tokens, true, p.revision === strict ? undefined : data.time);
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

  /** Replay now what is queued for every backend that is behind, then compact; resolves to the writes still queued. */
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
        await this.compact().catch((e: unknown) => void (this.backends[0]!.lastError = `queue compaction: ${message(e)}`));
      } finally {
        this.draining = undefined;
      }
    })();
    return this.draining.then(() => this.depthTotal());
  }

  /**
   * Delete the entries every backend has applied, saving the cursors in the same transaction
   * (under every backend's mutex: no apply may record its intent meanwhile).
   */
  private async compact(): Promise<void> {
    const floor = () => Math.min(this.decided, ...this.backends.map((b) => (b.pending ? b.pending.revision - 1 : b.cursor)));
    if (floor() <= this.compacted) return;
    const locked = (k: number): Promise<void> => {
      if (k === this.backends.length) {
        const upTo = floor();
        if (upTo <= this.compacted) return Promise.resolve();
        const cursors = this.backends.filter((b) => !b.pending).map((b) => ({ backend: b.name, cursor: b.cursor }));
        return this.store.compact(this.name, cursors, upTo).then(() => {
          this.compacted = upTo;
          for (const r of this.cancelled) if (r <= upTo) this.cancelled.delete(r);
        });
      }
      return this.backends[k]!.mutex.run(() => locked(k + 1));
    };
    await locked(0);
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
