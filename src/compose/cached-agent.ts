/**
 * CachedAgent: a fast agent (the cache, usually a VolatileAgent) in front of a durable one (the
 * backend: PersistentAgent, SQLAgent, RedisAgent...).
 *
 * @example
 * ```ts
 * const agent = new CachedAgent({
 *   cache: new VolatileAgent<Memory>({ maxHistory: 1 }),
 *   backend: new PersistentAgent<Memory>({ path: './memory.json' }),
 *   strategy: 'write-through',
 * });
 * await agent.update((m) => { m.turns.push('hi'); });
 * await agent.load(); // served from memory
 * ```
 *
 * Validity is tracked here, not in the cache: the cache is read only while this agent knows its
 * content equals the latest state it wrote or read from the backend. Anything that may have
 * desynchronised the two (a failed or ambiguous backend write, a write-around, a failed flush, a
 * failed cache write) marks the cache invalid, and the next load reads the backend again. So the
 * cache never claims a state the backend did not take.
 *
 * Strategies:
 * - `write-through` (default): save writes the backend, then the cache.
 * - `write-around`: save invalidates the cache, then writes the backend; the next load repopulates.
 * - `write-behind`: save writes the cache and resolves; the backend receives the pending states,
 *   in order, every `flushIntervalMs`, on `flush()` and on `close()`. With `coalesce: true` only
 *   the latest pending state is written (fewer writes, intermediate states absent from the
 *   backend's history).
 *
 * What `load()` returns under write-behind: during a pending window (see {@link CachedAgent.pending})
 * the latest saved state, which is NOT yet durable; `history()`, `version()` and `loadAt()` flush
 * first, so they only ever report durable states, and the backend's versions and times are those
 * of the flush. When a flush fails, the states not yet written are dropped (never retried behind
 * the caller's back), the cache is invalidated so `load()` returns the backend's durable state
 * again, and the error is thrown by the next `flush()` or `close()` (or by the call that
 * triggered the flush, for `history`/`version`/`loadAt`/`update`/conditional saves).
 *
 * `update()` and `save(state, { expectedVersion })` need the authoritative state, so in every
 * strategy they (after flushing) go to the backend and use its optimistic concurrency.
 *
 * By default the cache assumes this instance is the only writer of the backend. With
 * `verify: true` (Versioned backends) every load first compares the backend's version with the
 * cached one, so writes by other processes are seen at the price of one `version()` call.
 */
import { produce } from 'immer';
import { runRecipe } from '../agents/recipe-errors.js';
import { prepare } from '../core/codec.js';
import { frozen, thawed, type Frozen } from '../core/frozen.js';
import { ClosedError, ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import { isClosable, isSubscribable, isUpdatable, isVersioned } from '../agents/data-agent.js';
import type { ChangeInfo, Closable, DataAgent, HistoryOptions, LoadAtTarget, Recipe, SaveOptions, Unsubscribe, Updatable } from '../agents/data-agent.js';
import { historyWindow } from '../agents/history-window.js';
import { checkLoadAtTarget } from '../agents/load-at.js';
import '../agents/immer-setup.js';
import { observeCachedAgent } from '../observability/observe.js';
import type { Instrumentation } from '../observability/instrumentation.js';
import type { ObservabilityOptions, Stats } from '../observability/types.js';

/** How saves reach the backend. */
export type CacheStrategy = 'write-through' | 'write-behind' | 'write-around';

/**
 * Options of {@link CachedAgent}. The state type is inferred from `backend` (`B` is the backend's
 * own type, so the capabilities it has show in the CachedAgent's type); `cache` must fit it.
 */
export interface CachedAgentOptions<S, B extends DataAgent<S> = DataAgent<S>> extends ObservabilityOptions {
  /** The fast agent; its own history and versions are not used (a `VolatileAgent({ maxHistory: 1 })` is ideal). */
  // `DataAgent<any> &`: a `new VolatileAgent()` written here takes its state type from the backend
  // (without it, TypeScript infers VolatileAgent<unknown> or <undefined> first); the other half still
  // rejects a cache of another state type.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  cache: DataAgent<any> & DataAgent<NoInfer<S>>;
  /** The durable agent: the source of truth. */
  backend: B & DataAgent<S>;
  /** Default `'write-through'`. */
  strategy?: CacheStrategy | undefined;
  /** write-behind: flush this long after the first unflushed save (default 1000; 0 = as soon as possible, still after save resolves). */
  flushIntervalMs?: number | undefined;
  /** write-behind: write only the latest pending state at each flush (default false: every state, in order). */
  coalesce?: boolean | undefined;
  /** Check the backend version on every load, to see writes by other instances (needs a Versioned backend; default false). */
  verify?: boolean | undefined;
  /** Called when a background (timer) flush fails; the error is also thrown by the next `flush()`/`close()`. */
  onFlushError?: ((error: unknown) => void) | undefined;
  /**
   * Called when writing the cache fails after the backend took the state: the cache is then
   * invalidated (only speed is lost). Default: `process.emitWarning`.
   */
  onCacheError?: ((error: unknown) => void) | undefined;
}

/**
 * A cache agent in front of a backend agent. `update()` is always available; `version()`,
 * `loadAt()` and `subscribe()` exist only when the backend has them (check with `isVersioned`,
 * `isSubscribable`). Their types follow the backend's: with `new CachedAgent({ cache, backend })`
 * and a Versioned backend, `version()` is typed as present.
 */
export class CachedAgent<S, B extends DataAgent<S> = DataAgent<S>> implements DataAgent<S>, Updatable<S>, Closable {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: S;
  /** The backend's version (after flushing); present when the backend is Versioned. */
  readonly version!: VersionedMember<B, () => Promise<number>>;
  /** The backend's state at a version or time (after flushing); present when the backend is Versioned. */
  readonly loadAt!: VersionedMember<B, (target: LoadAtTarget) => Promise<Frozen<S>>>;
  /** The backend's change notifications (write-behind: at flush); present when the backend is Subscribable. */
  readonly subscribe!: SubscribableMember<B, (listener: (state: Frozen<S>, info: ChangeInfo) => void) => Unsubscribe>;

  readonly strategy: CacheStrategy;
  private readonly cache: DataAgent<S>;
  private readonly backend: DataAgent<S>;
  private readonly flushIntervalMs: number;
  private readonly coalesce: boolean;
  private readonly verify: boolean;
  private readonly onFlushError: ((error: unknown) => void) | undefined;
  private readonly onCacheError: (error: unknown) => void;
  /** Orders every write, flush and miss of this instance. */
  private readonly mutex = new Mutex();
  /** The hit path's only test: cache valid, not verifying, not closed. */
  private hot = false;
  private valid = false;
  private closed = false;
  /** verify mode: the backend version the cached state is known to have (undefined = unknown). */
  private cachedVersion: number | undefined;
  /** write-behind: acknowledged states not yet written to the backend, oldest first. */
  private readonly queue: S[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** write-behind: failures of background flushes, thrown by the next flush()/close(). */
  private readonly failures: unknown[] = [];
  /** stats(): hits, misses and evictions are counted here, operations by its wrappers */
  private readonly obs: Instrumentation;

  constructor(options: CachedAgentOptions<S, B>) {
    const { cache, backend } = options;
    if (!cache || typeof cache.load !== 'function' || !backend || typeof backend.load !== 'function') {
      throw new ValidationError('CachedAgent needs a cache and a backend DataAgent');
    }
    const strategy = options.strategy ?? 'write-through';
    if (strategy !== 'write-through' && strategy !== 'write-behind' && strategy !== 'write-around') {
      throw new ValidationError(`unknown cache strategy ${JSON.stringify(strategy)}; use write-through, write-behind or write-around`);
    }
    const interval = options.flushIntervalMs ?? 1000;
    if (!Number.isFinite(interval) || interval < 0) throw new ValidationError(`flushIntervalMs must be a number >= 0, got ${shown(interval)}`);
    if (options.verify && !isVersioned(backend)) throw new ValidationError('verify: true needs a Versioned backend (version() and loadAt())');
    this.cache = cache;
    this.backend = backend;
    this.strategy = strategy;
    this.flushIntervalMs = interval;
    this.coalesce = options.coalesce ?? false;
    this.verify = options.verify ?? false;
    this.onFlushError = options.onFlushError;
    this.onCacheError = options.onCacheError ?? ((e) => process.emitWarning(`CachedAgent: cache write failed, cache invalidated: ${String(e)}`));
    if (isVersioned(backend)) {
      this.version = (() => this.durable(() => backend.version())) as never;
      this.loadAt = (async (target: LoadAtTarget) => {
        checkLoadAtTarget(target); // refused before anything is flushed for it
        return this.durable(() => backend.loadAt(target));
      }) as never;
    }
    if (isSubscribable(backend)) this.subscribe = ((listener: (state: Frozen<S>, info: ChangeInfo) => void) => backend.subscribe(listener)) as never;
    this.obs = observeCachedAgent(this, options);
  }

  /** Operation counts, errors, latency percentiles, and loads served from the cache (hits) or the backend (misses), evictions (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** write-behind: how many states wait to be written to the backend (at most 1 with `coalesce`; 0 = what load() returns is durable). */
  get pending(): number {
    return this.queue.length;
  }

  /** The current state: from the cache while it is valid, else from the backend (then cached). */
  load(): Promise<Frozen<S>> {
    // The hit path: one flag test, and the cache's own promise handed back as is.
    if (this.hot) {
      this.obs.hit();
      return this.cache.load();
    }
    return this.mutex.run(() => this.miss());
  }

  /** Save a state according to the strategy. With `expectedVersion`, the save goes to the backend in every strategy. */
  async save(state: NoInfer<S> | Frozen<S>, options: SaveOptions = {}): Promise<void> {
    this.assertOpen();
    // Validate before anything is touched, so bad input cannot invalidate a good cache.
    const value = prepare(thawed<S>(state)).value;
    const conditional = options.expectedVersion !== undefined;
    await this.mutex.run(async () => {
      this.assertOpen();
      if (this.strategy === 'write-behind' && !conditional) {
        await this.writeCache(value);
        if (this.valid) {
          // coalescing keeps only the latest state: memory stays flat under a burst of saves
          if (this.coalesce) this.queue.length = 0;
          this.queue.push(value);
          this.schedule();
          return;
        }
        // The cache refused the state: acknowledge it only once the backend has it.
      }
      await this.drain();
      await this.writeBackend(() => this.backend.save(value, options));
      await this.afterBackendWrite(value);
    });
  }

  /** Read-modify-write against the backend (after flushing), retried on conflict where the backend supports it. */
  update(recipe: Recipe<S>): Promise<Frozen<S>> {
    return this.mutex.run(async () => {
      this.assertOpen();
      await this.drain();
      let next: S | Frozen<S>;
      if (isUpdatable(this.backend)) {
        const backend = this.backend;
        next = await this.writeBackend(() => backend.update(recipe));
      } else {
        // Without update() on the backend, the mutex makes this atomic within this instance.
        const base = await this.miss();
        next = prepare(runRecipe('update', () => produce(base, recipe as never)) as S).value;
        await this.writeBackend(() => this.backend.save(next));
      }
      await this.afterBackendWrite(next);
      return frozen(thawed<S>(next));
    });
  }

  /**
   * The backend's saved states, newest first (write-behind: after flushing): `history(limit)`, or
   * `history({ since, until, limit })` when the backend is versioned (else ValidationError).
   */
  async history(options?: number | HistoryOptions): Promise<Frozen<S>[]> {
    historyWindow(options); // a bad argument is refused before anything is flushed for it
    if (typeof options !== 'object') return this.durable(() => this.backend.history(options));
    const backend = this.backend;
    if (!isVersioned(backend)) throw new ValidationError('CachedAgent: history({ since, until }) needs a versioned backend; this one takes a limit only');
    return this.durable(() => backend.history(options));
  }

  /**
   * write-behind: write the pending states now. Throws the failure of this flush or of an earlier
   * background flush (an AggregateError when several). Resolves at once for the other strategies.
   */
  async flush(): Promise<void> {
    let own: unknown[] = [];
    try {
      await this.mutex.run(() => this.drain());
    } catch (e) {
      own = [e];
    }
    throwAll([...this.failures.splice(0), ...own]);
  }

  /** Flush, then close the cache and the backend. Throws what the flush threw, after closing. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const errors: unknown[] = [];
    try {
      await this.flush();
    } catch (e) {
      errors.push(e);
    }
    this.closed = true;
    this.setValid(false);
    for (const a of [this.cache, this.backend]) {
      if (isClosable(a)) await a.close().catch((e: unknown) => errors.push(e));
    }
    throwAll(errors);
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('CachedAgent');
  }

  private setValid(valid: boolean): void {
    this.valid = valid;
    this.hot = valid && !this.verify && !this.closed;
    if (!valid) this.cachedVersion = undefined;
  }

  /** Drop the cached state (counted as an eviction when there was one). */
  private evict(): void {
    if (this.valid) this.obs.evicted();
    this.setValid(false);
  }

  /** Run `read` on the backend once everything acknowledged is durable. */
  private async durable<T>(read: () => Promise<T>): Promise<T> {
    this.assertOpen();
    if (this.strategy === 'write-behind') await this.mutex.run(() => this.drain());
    return read();
  }

  /** Load through the cache; must run inside the mutex. */
  private async miss(): Promise<Frozen<S>> {
    this.assertOpen();
    if (this.valid && (this.queue.length > 0 || !this.verify)) {
      this.obs.hit();
      return this.cache.load();
    }
    let version: number | undefined;
    if (this.verify && isVersioned(this.backend)) {
      // Read the version before the state: the state is then at least that new, so a match later
      // can only ever mean "unchanged" (a newer state just causes one more miss).
      version = await this.backend.version();
      if (this.valid && version === this.cachedVersion) {
        this.obs.hit();
        return this.cache.load();
      }
      if (this.valid) this.obs.evicted(); // another writer moved the backend on
    }
    this.obs.miss();
    const state = await this.backend.load();
    await this.writeCache(state);
    if (this.valid) this.cachedVersion = version;
    return state;
  }

  /** A backend write; any failure may have left the backend ahead of or behind the cache: invalidate. */
  private async writeBackend<T>(write: () => Promise<T>): Promise<T> {
    if (this.strategy === 'write-around') this.evict();
    try {
      return await write();
    } catch (e) {
      this.evict();
      throw e;
    }
  }

  private async afterBackendWrite(state: S | Frozen<S>): Promise<void> {
    if (this.strategy === 'write-around') return;
    await this.writeCache(state);
    // Our write's exact backend version is unknown (another writer may have come between).
    this.cachedVersion = undefined;
  }

  /** Put `state` in the cache; the cache is valid afterwards only if that worked. */
  private async writeCache(state: S | Frozen<S>): Promise<void> {
    this.setValid(false);
    try {
      await this.cache.save(state);
    } catch (e) {
      this.obs.evicted();
      this.onCacheError(e);
      return;
    }
    this.setValid(true);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.mutex.run(() => this.drain()).catch((e: unknown) => {
        this.failures.push(e);
        this.onFlushError?.(e);
      });
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  /** write-behind: write the queue to the backend in order; must run inside the mutex. */
  private async drain(): Promise<void> {
    if (this.queue.length === 0) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    try {
      while (this.queue.length > 0) {
        await this.backend.save(this.queue[0]!);
        this.queue.shift();
      }
    } catch (e) {
      // Drop what was not written and stop serving it: the cache holds unpersisted state.
      this.queue.length = 0;
      this.evict();
      throw e;
    }
  }
}

function throwAll(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} CachedAgent operations failed`);
}

/** `M` when the backend type `B` is Versioned, else `M | undefined` (present only if the backend turns out to be). */
export type VersionedMember<B, M> = B extends { version(): unknown; loadAt(target: never): unknown } ? M : M | undefined;
/** `M` when the backend type `B` is Subscribable, else `M | undefined`. */
export type SubscribableMember<B, M> = B extends { subscribe(listener: never): unknown } ? M : M | undefined;
