/**
 * A Store over several Stores (each with its own log and views) in priority order, with the write
 * policies of `fallback()`. Reads (`get`, `has`, `getMany`, `list`, `query`, `count`,
 * `versions`, `audit`) come from the first Store that does not throw BackendUnavailableError
 * (under `'primary-then-queue'`, an up-to-date one first). Writes (`set`, `delete`, `setMany`,
 * `deleteMany`, `setMetadata`, `purge`) follow the policy; a queued write keeps its actor,
 * metadata and expiry time, and its replay carries `queuedAt` (audit() shows it).
 *
 * Read-modify-writes (`update`, `incr`, `transaction`) run once, with the Store's own atomicity and
 * retries, on the first available Store (under `'all'` the first Store); the values they left on
 * the keys they wrote are then written to the other Stores by the policy, as one atomic write
 * per Store where its log allows (`'all'`: at once; `'primary-then-queue'`: at once or queued;
 * `'first-available'`: nowhere else). `subscribe` follows the Store currently serving and moves
 * to the next one when it fails (docs/failover.md says what that guarantees).
 *
 * @example
 * ```ts
 * const store = fallback([new Store({ log: pgLog }), new Store({ log: new SqliteEventLog({ path: 'local.db' }) })], {
 *   writes: 'primary-then-queue',
 *   queue: new SqliteQueue({ path: 'queue.db' }),
 * });
 * await store.set('user:1', { name: 'Ada' }, { actor: 'admin' });
 * ```
 */
import { BackendUnavailableError, ClosedError, ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import type { Metadata } from '../projections/keyed-events.js';
import type { AuditEntry } from '../projections/views/rows.js';
import type { ValueFilter } from '../projections/views/filter.js';
import { Store } from '../store/store.js';
import type { SetManyItem } from '../store/writes.js';
import { timeOf } from '../store/entries.js';
import type { AuditQuery, DeleteOptions, GetOptions, ListOptions, ListPage, OpOptions, QueryOptions, QueryResult, SetMetadataOptions, SetOptions, SetResult, StoreEntry, StoreVersion, VersionsOptions } from '../store/types.js';
import type { EventLog } from '../streams/event-log.js';
import { checkPolicy, rank, type PrioritizedBackend, type Ranked, type WritePolicy } from './policy.js';
import { storeTarget, type StoreKeyOp, type StoreOp, type StorePartResult } from './store-target.js';
import { isUnavailable, type FailoverTarget } from './target.js';
import { failoverStatus, WriteQueue, type FailoverStatus } from './write-queue.js';
import { queueStoreOf } from './queue-store.js';
import type { SqliteQueue } from './sqlite-queue.js';
import type { StoreRecipe } from '../store/update.js';
import type { StoreTransaction } from '../store/transaction.js';
import type { StoreChange, StoreUnsubscribe, SubscribeFilter } from '../store/subscribe.js';
import type { IncrOptions } from '../store/types.js';
import { keyStream } from '../projections/keyed-events.js';

/** Options of `fallback()` over Stores. */
export interface FallbackStoreOptions {
  /** `'all'` (default), `'primary-then-queue'` or `'first-available'` */
  writes?: WritePolicy | undefined;
  onFailover?: ((index: number, error: BackendUnavailableError) => void) | undefined;
  /** `'primary-then-queue'` only, required: where the queue is kept, a SqliteQueue (compacted) or an EventLog (never compacted); yours to close */
  queue?: SqliteQueue | EventLog | undefined;
  /** names this fallback's streams in `queue` (default `'fallback-store'`) */
  queueName?: string | undefined;
  /** how often a Store that is down is retried while writes are queued for it, ms (default 1000) */
  retryMs?: number | undefined;
}

/** An audit entry of a fallback: `queuedAt` on the entry of a write replayed from the queue. */
export type FallbackAuditEntry = AuditEntry & { queuedAt?: number };

/** The log of a Store (the Store keeps it in its context). */
function logOf(s: Store): EventLog {
  return (s as unknown as { ctx: { log: EventLog } }).ctx.log;
}

const TX_READS = new Set(['get', 'has', 'getMany']);

/** `tx` that notes the keys its write methods name (every method but the reads takes the key first, then options). */
function recording(tx: StoreTransaction, base: OpOptions, written: Map<string, { namespace: string; key: string; actor?: string }>, ref: (key: string, o: OpOptions) => { namespace: string; key: string; actor?: string }): StoreTransaction {
  return new Proxy(tx, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (typeof prop !== 'string' || TX_READS.has(prop)) return (v as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => {
        const out = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (typeof args[0] === 'string') {
          const o = (args.find((a, i) => i > 0 && typeof a === 'object' && a !== null) ?? {}) as OpOptions;
          const r = ref(args[0], { namespace: o.namespace ?? base.namespace, actor: o.actor ?? base.actor });
          written.set(`${r.namespace}/${r.key}`, r);
        }
        return out;
      };
    },
  });
}

function isStore(x: unknown): x is Store {
  return x instanceof Store;
}

/** The keyed API over ordered Stores; see the file comment. */
export class FallbackStore {
  readonly writes: WritePolicy;
  private readonly ranked: Ranked<Store>[];
  private readonly stores: Store[];
  private readonly targets: (FailoverTarget<StoreOp, StorePartResult[]> & { write(op: StoreOp): Promise<StorePartResult[]> })[];
  private readonly queue: WriteQueue<StoreOp> | undefined;
  private readonly writeOrder = new Mutex();
  /** subscriptions: each follows one Store and moves off it when it is found down */
  private readonly followers = new Set<{ index: number; move(skip: number): Promise<void> }>();
  private closed = false;

  constructor(
    stores: readonly (Store | PrioritizedBackend<Store>)[],
    private readonly options: FallbackStoreOptions = {},
  ) {
    this.ranked = rank(stores, isStore, 'fallback');
    this.stores = this.ranked.map((r) => r.backend);
    this.writes = checkPolicy(options.writes, 'fallback');
    this.targets = this.stores.map((s) => storeTarget(s));
    if (this.writes === 'primary-then-queue') {
      this.queue = new WriteQueue<StoreOp>({
        store: queueStoreOf(options.queue),
        name: options.queueName ?? 'fallback-store',
        backends: this.ranked.map((b, i) => ({ name: b.name, priority: b.priority, target: this.targets[i]! })),
        retryMs: options.retryMs ?? 1000,
        onFailover: options.onFailover as never,
        beforeFailover: (i) => this.failingOver(i),
      });
    } else if (options.queue !== undefined) throw new ValidationError(`fallback: queue is used by writes: 'primary-then-queue' only (writes is '${this.writes}')`);
  }

  get<T = unknown>(key: string, options: GetOptions & { includeMetadata: true }): Promise<StoreEntry<T> | undefined>;
  get<T = unknown>(key: string, options?: GetOptions): Promise<T | undefined>;
  get(key: string, options?: GetOptions): Promise<unknown> {
    return this.read((s) => s.get(key, options));
  }

  has(key: string, options?: OpOptions): Promise<boolean> {
    return this.read((s) => s.has(key, options));
  }

  getMany<T = unknown>(keys: readonly string[], options?: OpOptions): Promise<(T | undefined)[]> {
    return this.read((s) => s.getMany<T>(keys, options));
  }

  list(options?: ListOptions): Promise<ListPage> {
    return this.read((s) => s.list(options));
  }

  query<T = unknown>(filter: ValueFilter | readonly ValueFilter[] | undefined, options?: QueryOptions): Promise<QueryResult<T>[]> {
    return this.read((s) => s.query<T>(filter, options));
  }

  count(filter?: ValueFilter | readonly ValueFilter[], options?: OpOptions): Promise<number> {
    return this.read((s) => s.count(filter, options));
  }

  versions<T = unknown>(key: string, options?: VersionsOptions): Promise<StoreVersion<T>[]> {
    return this.read((s) => s.versions<T>(key, options));
  }

  /** Audit entries, oldest first; an entry of a write this fallback replayed from its queue has `queuedAt` (when it was queued, epoch ms). */
  audit(filter?: AuditQuery): Promise<FallbackAuditEntry[]> {
    return this.read(async (s) => {
      const entries: FallbackAuditEntry[] = await s.audit(filter);
      const log = logOf(s);
      for (const e of entries) {
        if (e.key === null || e.type.startsWith('kv.relation.')) continue;
        for await (const r of log.read(keyStream(e.namespace, e.key), { fromRevision: e.version, toRevision: e.version })) {
          const q = r.metadata.queuedAt;
          if (typeof q === 'number') e.queuedAt = q;
        }
      }
      return entries;
    });
  }

  /** Write a value by the policy; resolves to its version on the Store that acknowledged it (the first one under `'all'`). */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<SetResult> {
    if (options.ifAbsent) throw new ValidationError('fallback: set with ifAbsent is not supported over several Stores');
    const [r] = await this.write([this.setPart(key, value, options)], (s) => s.set(key, value, options).then((x) => [x]));
    return r as SetResult;
  }

  async delete(key: string, options: DeleteOptions = {}): Promise<boolean> {
    const p: StoreKeyOp = { op: 'delete', ...this.base(key, options) };
    if (options.expectedVersion !== undefined) p.expectedVersion = options.expectedVersion;
    const [r] = await this.write([p], (s) => s.delete(key, options).then((x) => [x]));
    return r as boolean;
  }

  /** Several keys; under `'primary-then-queue'` one queued write applied key by key (not atomically). */
  async setMany(items: readonly (SetManyItem | readonly [string, unknown])[], options: OpOptions = {}): Promise<SetResult[]> {
    if (!Array.isArray(items)) throw new ValidationError('setMany needs an array of { key, value } or [key, value]');
    const parts = items.map((it) => {
      const i: SetManyItem = Array.isArray(it) ? { key: it[0] as string, value: it[1] } : (it as SetManyItem);
      const o: SetOptions = { ...options };
      if (i.metadata !== undefined) o.metadata = i.metadata;
      if (i.ttlMs !== undefined) o.ttlMs = i.ttlMs;
      if (i.expiresAt !== undefined) o.expiresAt = i.expiresAt;
      return this.setPart(i.key, i.value, o);
    });
    if (parts.length === 0) return [];
    return (await this.write(parts, (s) => s.setMany(items, options))) as SetResult[];
  }

  async deleteMany(keys: readonly string[], options: OpOptions = {}): Promise<number> {
    if (!Array.isArray(keys)) throw new ValidationError('deleteMany needs an array of keys');
    if (keys.length === 0) return 0;
    const rs = await this.write(
      keys.map((k): StoreKeyOp => ({ op: 'delete', ...this.base(k, options) })),
      (s) => s.deleteMany(keys, options).then((n) => [n as unknown as boolean]),
    );
    return this.queue ? rs.filter((r) => r === true).length : (rs[0] as unknown as number);
  }

  async setMetadata(key: string, metadata: Metadata, options: SetMetadataOptions = {}): Promise<SetResult> {
    const p: StoreKeyOp = { op: 'setMetadata', ...this.base(key, options), metadata };
    if (options.merge !== undefined) p.merge = options.merge;
    const [r] = await this.write([p], (s) => s.setMetadata(key, metadata, options).then((x) => [x]));
    return r as SetResult;
  }

  /** Erase a key's values from every Store by the policy (queued for a Store that is down; see purge in docs/failover.md). */
  async purge(key: string, options: OpOptions = {}): Promise<void> {
    const p: StoreKeyOp = { op: 'purge', ...this.base(key, options) };
    await this.write([p], (s) => s.purge(key, options).then(() => [true]));
  }

  /** Read-modify-write with immer on the first available Store; the value it left is written to the others by the policy. */
  update<T = unknown>(key: string, recipe: StoreRecipe<T>, options: OpOptions = {}): Promise<T> {
    return this.compound(async (s) => ({ result: await s.update<T>(key, recipe, options), keys: [this.base(key, options)] }));
  }

  /** An atomic counter on the first available Store; the number it left is written to the others by the policy. */
  incr(key: string, by?: number, options: IncrOptions = {}): Promise<number> {
    return this.compound(async (s) => ({ result: await s.incr(key, by, options), keys: [this.base(key, options)] }));
  }

  /**
   * One atomic, optimistic transaction on the first available Store (retried there on conflict);
   * the values it left on the keys it wrote are then written to the others by the policy, as one
   * atomic write per Store where its log allows.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T, options: OpOptions = {}): Promise<T> {
    if (typeof fn !== 'function') return Promise.reject(new ValidationError('transaction needs a function (tx) => ...'));
    return this.compound(async (s) => {
      let written = new Map<string, { namespace: string; key: string; actor?: string }>();
      const result = await s.transaction((tx) => {
        written = new Map(); // the attempt that commits is the last one
        return fn(recording(tx, options, written, (k, o) => this.base(k, o)));
      }, options);
      return { result, keys: [...written.values()] };
    });
  }

  /**
   * Hear changes from the Store currently serving (an up-to-date one first). When that Store is
   * found down (by a write of this fallback, before the write goes to the next Store, or by the
   * subscription's own error) the subscription moves to the next available Store, from its head;
   * see docs/failover.md for what is guaranteed across a move.
   */
  subscribe(filter: SubscribeFilter, listener: (change: StoreChange) => void | Promise<void>): StoreUnsubscribe {
    this.assertOpen();
    if (typeof listener !== 'function') throw new ValidationError('subscribe needs a listener function');
    const f = filter ?? {};
    let current: StoreUnsubscribe | undefined;
    let stopped = false;
    let moving: Promise<void> = Promise.resolve();
    const report = (e: unknown) => {
      if (f.onError) f.onError(e);
      else queueMicrotask(() => {
        throw e;
      });
    };
    const follow = async (skip: number): Promise<void> => {
      await this.queue?.ready;
      const order = this.stores.map((_, i) => i).filter((i) => i !== skip);
      const q = this.queue;
      const ranked = q ? [...order.filter((i) => q.inSync(i) && q.backendStatus(i).available !== false), ...order.filter((i) => !(q.inSync(i) && q.backendStatus(i).available !== false))] : order;
      let first: unknown;
      for (const i of ranked) {
        if (stopped) return;
        const sub = this.stores[i]!.subscribe({ ...f, onError: (e) => onError(i, e) }, listener);
        try {
          await sub.ready;
          current = sub;
          follower.index = i;
          return;
        } catch (e) {
          await sub().catch(() => undefined);
          if (!isUnavailable(e)) throw e;
          first ??= e;
        }
      }
      throw first ?? new BackendUnavailableError('fallback store', 'no Store to subscribe to');
    };
    const follower = {
      index: -1,
      move: (skip: number): Promise<void> => {
        if (stopped) return moving;
        const old = current;
        current = undefined;
        follower.index = -1;
        moving = moving.then(async () => {
          await old?.().catch(() => undefined);
          await follow(skip).catch(report);
        });
        return moving;
      },
    };
    const onError = (i: number, e: unknown) => {
      if (!isUnavailable(e) || stopped) return report(e);
      this.queue?.setAvailable(i, false, e);
      if (follower.index === i) void follower.move(i);
    };
    this.followers.add(follower);
    const ready = follow(-1);
    ready.catch(() => undefined);
    const stop = (async () => {
      stopped = true;
      this.followers.delete(follower);
      await ready.catch(() => undefined);
      await moving;
      await current?.();
    }) as StoreUnsubscribe;
    stop.ready = ready;
    return stop;
  }

  /** Store `i` was found down: the subscriptions following it move before the write goes on. */
  private async failingOver(i: number): Promise<void> {
    await Promise.all([...this.followers].filter((f) => f.index === i).map((f) => f.move(i)));
  }

  /** Replay now what is queued for Stores that are back; resolves to the writes still queued. */
  async drain(): Promise<number> {
    this.assertOpen();
    return this.queue ? this.queue.drain() : 0;
  }

  /** Per Store: available (its status() now), writes queued for it, in sync; and the total queue depth. */
  async status(): Promise<FailoverStatus> {
    this.assertOpen();
    return failoverStatus(this.writes, this.ranked, this.targets, this.queue);
  }

  /** Stop replaying (the queue stays in its log) and close every Store; their logs and the queue log are yours to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue?.close();
    const errors: unknown[] = [];
    for (const s of this.stores) await s.close().catch((e: unknown) => errors.push(e));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} fallback Stores failed to close`);
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('fallback store');
  }

  private base(key: string, o: OpOptions): { namespace: string; key: string; actor?: string } {
    const b: { namespace: string; key: string; actor?: string } = { namespace: o.namespace ?? 'default', key };
    if (o.actor !== undefined) b.actor = o.actor;
    return b;
  }

  private setPart(key: string, value: unknown, o: SetOptions): StoreKeyOp {
    const p: StoreKeyOp = { op: 'set', ...this.base(key, o), value };
    if (o.metadata !== undefined) p.metadata = o.metadata;
    if (o.ttlMs !== undefined && o.expiresAt !== undefined) throw new ValidationError('set: ttlMs and expiresAt exclude each other');
    if (o.ttlMs !== undefined) {
      if (typeof o.ttlMs !== 'number' || !Number.isFinite(o.ttlMs) || o.ttlMs <= 0) throw new ValidationError(`ttlMs must be a number > 0, got ${shown(o.ttlMs)}`);
      p.expiresAt = this.stores[0]!.now() + o.ttlMs; // absolute: a replay does not restart the TTL
    } else if (o.expiresAt !== undefined) p.expiresAt = timeOf(o.expiresAt, 'expiresAt');
    if (o.expectedVersion !== undefined) p.expectedVersion = o.expectedVersion;
    return p;
  }

  /**
   * Run a read-modify-write on one Store, then write what it left on `keys` (read back under the
   * fallback's write lock) to the others by the policy.
   */
  private compound<R>(exec: (s: Store) => Promise<{ result: R; keys: { namespace: string; key: string; actor?: string }[] }>): Promise<R> {
    this.assertOpen();
    const withOp = async (s: Store): Promise<{ result: R; op: StoreOp | undefined }> => {
      const out = await exec(s);
      const parts: StoreKeyOp[] = [];
      for (const k of out.keys) {
        const o: OpOptions = { namespace: k.namespace };
        if (k.actor !== undefined) o.actor = k.actor;
        const e = await s.get(k.key, { ...o, includeMetadata: true });
        if (e === undefined) parts.push({ op: 'delete', ...k });
        else {
          const p: StoreKeyOp = { op: 'set', ...k, value: e.value };
          if (e.metadata !== null) p.metadata = e.metadata;
          if (e.expiresAt !== null) p.expiresAt = e.expiresAt;
          parts.push(p);
        }
      }
      return { result: out.result, op: parts.length === 0 ? undefined : { parts, atomic: true } };
    };
    return this.writeOrder.run(async () => {
      if (this.queue) return (await this.queue.run((i) => withOp(this.stores[i]!))).result;
      if (this.writes === 'first-available') return (await this.firstAvailable((s) => exec(s))).value.result;
      const { result, op } = await withOp(this.stores[0]!);
      if (op === undefined) return result;
      const errors: unknown[] = [];
      for (let i = 1; i < this.stores.length; i++) await this.targets[i]!.write(op).catch((e: unknown) => errors.push(e));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `${errors.length} of ${this.stores.length} fallback Stores failed the write`);
      return result;
    });
  }

  private write(parts: StoreKeyOp[], direct: (s: Store) => Promise<StorePartResult[]>): Promise<StorePartResult[]> {
    this.assertOpen();
    return this.writeOrder.run(async () => {
      if (this.queue) return (await this.queue.write<StorePartResult[]>({ parts })).result;
      if (this.writes === 'first-available') return (await this.firstAvailable(direct)).value;
      let first: StorePartResult[] | undefined;
      const errors: unknown[] = [];
      for (const s of this.stores) {
        try {
          const r = await direct(s);
          first ??= r;
        } catch (e) {
          errors.push(e);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, `${errors.length} of ${this.stores.length} fallback Stores failed the write`);
      return first!;
    });
  }

  private async read<T>(op: (s: Store) => Promise<T>): Promise<T> {
    this.assertOpen();
    if (!this.queue) return (await this.firstAvailable(op)).value;
    await this.queue.ready;
    const q = this.queue;
    const order = this.stores.map((_, i) => i);
    return (await this.firstAvailable(op, [...order.filter((i) => q.inSync(i)), ...order.filter((i) => !q.inSync(i))])).value;
  }

  private async firstAvailable<T>(op: (s: Store) => Promise<T>, order?: readonly number[]): Promise<{ value: T; index: number }> {
    let first: BackendUnavailableError | undefined;
    for (const i of order ?? this.stores.map((_, j) => j)) {
      try {
        return { value: await op(this.stores[i]!), index: i };
      } catch (e) {
        if (!isUnavailable(e)) throw e;
        first ??= e;
        this.queue?.setAvailable(i, false, e);
        this.options.onFailover?.(i, e);
        await this.failingOver(i);
      }
    }
    throw first!;
  }
}
