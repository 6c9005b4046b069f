/**
 * Fallback: ordered backends with failover on BackendUnavailableError.
 *
 * @example
 * ```ts
 * const agent = fallback([new SQLAgent({ connectionString, id: 'a1' }), new PersistentAgent({ path: './a1.json' })], {
 *   writes: 'primary-then-queue',
 *   queue: new SqliteQueue({ path: './a1-queue.db' }),
 * });
 * await agent.save(state);   // on PostgreSQL (or the file while PostgreSQL is down), queued for the other
 * await agent.load();        // from PostgreSQL, or from the file while PostgreSQL is down
 * ```
 *
 * Backends are tried in order (or by `priority`, lower first). Reads (`load`, `history`) come
 * from the first backend that does not throw BackendUnavailableError; any other error
 * (StateNotFoundError, CorruptionError...) is that backend's answer and is thrown as is. When
 * every backend is unavailable, the first backend's error is thrown.
 *
 * Writes, by `writes` (see src/failover/policy.ts):
 * - `'all'` (default): every backend, in order; the save resolves only when all took it and
 *   otherwise throws (an AggregateError when several failed). So every save that resolved is on
 *   every backend. A rejected save is still written to the backends that were up.
 * - `'primary-then-queue'`: the first available backend, then each other backend that is up (no
 *   queue I/O while all are up and in sync); queued durably in `queue` (a SqliteQueue) for those
 *   that missed it, replayed in order when they are back. Reads skip a backend that still has
 *   writes queued, unless no up-to-date backend is available.
 * - `'first-available'`: the first backend that is not unavailable, and nowhere else.
 */
import { BackendUnavailableError, ClosedError, ValidationError } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import { isClosable } from '../agents/data-agent.js';
import type { Closable, DataAgent, Recipe, SaveOptions, Updatable } from '../agents/data-agent.js';
import { readModifyWrite } from './read-modify-write.js';
import { produce } from 'immer';
import { runRecipe } from '../agents/recipe-errors.js';
import { prepare } from '../core/codec.js';
import { thawed, frozen, type Frozen } from '../core/frozen.js';
import type { EventLog } from '../streams/event-log.js';
import { checkPolicy, rank, type PrioritizedBackend, type Ranked, type WritePolicy } from '../failover/policy.js';
import { failoverStatus, WriteQueue, type FailoverStatus } from '../failover/write-queue.js';
import { agentTarget, type AgentOp } from '../failover/agent-target.js';
import { isUnavailable, type FailoverTarget } from '../failover/target.js';
import { queueStoreOf } from '../failover/queue-store.js';
import type { SqliteQueue } from '../failover/sqlite-queue.js';
import { FallbackStore, type FallbackStoreOptions } from '../failover/fallback-store.js';
import { Store } from '../store/store.js';

/** Where writes go. */
export type FallbackWritePolicy = WritePolicy;

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** `'all'` (default), `'primary-then-queue'` or `'first-available'`; see {@link FallbackAgent}. */
  writes?: FallbackWritePolicy | undefined;
  /** Told each time a backend is skipped because it is unavailable. */
  onFailover?: ((index: number, error: BackendUnavailableError) => void) | undefined;
  /** `'primary-then-queue'` only, required: where the queue is kept, a SqliteQueue (compacted) or an EventLog (SqliteEventLog, FileEventLog: never compacted); yours to close. */
  queue?: SqliteQueue | EventLog | undefined;
  /** names this fallback's streams in `queue` (default `'fallback'`): give each fallback sharing a log its own. */
  queueName?: string | undefined;
  /** how often a backend that is down is retried while writes are queued for it, ms (default 1000). */
  retryMs?: number | undefined;
}

/** A backend of {@link fallback}: bare (priority = position) or with a priority (lower first) and a name. */
export type FallbackBackend<S> = DataAgent<S> | PrioritizedBackend<DataAgent<S>>;

function isAgent(x: unknown): x is DataAgent<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as DataAgent<unknown>).load === 'function' && typeof (x as DataAgent<unknown>).save === 'function';
}

/** A DataAgent over ordered backends. */
export class FallbackAgent<S> implements DataAgent<S>, Updatable<S>, Closable {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: S;
  /** the write policy in force */
  readonly writes: FallbackWritePolicy;
  private readonly ranked: Ranked<DataAgent<S>>[];
  private readonly backends: DataAgent<S>[];
  private readonly targets: FailoverTarget<AgentOp<S>, void>[];
  private readonly mutexes: Mutex[];
  private readonly queue: WriteQueue<AgentOp<S>> | undefined;
  /** Orders this instance's writes, so that every backend receives them in the same order. */
  private readonly writeOrder = new Mutex();

  constructor(
    backends: readonly FallbackBackend<S>[],
    private readonly options: FallbackOptions = {},
  ) {
    this.ranked = rank(backends, isAgent as (x: unknown) => x is DataAgent<S>, 'fallback');
    this.backends = this.ranked.map((b) => b.backend);
    this.writes = checkPolicy(options.writes, 'fallback');
    this.mutexes = this.backends.map(() => new Mutex());
    this.targets = this.backends.map((b) => agentTarget(b));
    if (this.writes === 'primary-then-queue') {
      this.queue = new WriteQueue<AgentOp<S>>({
        store: queueStoreOf(options.queue),
        name: options.queueName ?? 'fallback',
        backends: this.ranked.map((b, i) => ({ name: b.name, priority: b.priority, target: this.targets[i]! })),
        retryMs: options.retryMs ?? 1000,
        onFailover: options.onFailover as never,
      });
    } else if (options.queue !== undefined) throw new ValidationError(`fallback: queue is used by writes: 'primary-then-queue' only (writes is '${this.writes}')`);
  }

  load(): Promise<Frozen<S>> {
    if (this.closed) return Promise.reject(new ClosedError('fallback agent'));
    return this.read((b) => b.load());
  }

  async history(limit?: number): Promise<Frozen<S>[]> {
    this.assertOpen();
    return this.read((b) => b.history(limit));
  }

  /** Save by the write policy. An `expectedVersion` is checked by each backend written (`'primary-then-queue'`: by the one that acknowledges). */
  async save(state: NoInfer<S> | Frozen<S>, options?: SaveOptions): Promise<void> {
    this.assertOpen();
    const value = prepare(thawed<S>(state)).value;
    await this.writeOrder.run(() => this.write(value, options));
  }

  private async write(value: S, options?: SaveOptions): Promise<void> {
    if (this.queue) {
      const op: AgentOp<S> = { state: value };
      if (options?.expectedVersion !== undefined) op.expectedVersion = options.expectedVersion;
      await this.queue.write(op);
    } else if (this.writes === 'first-available') await this.firstAvailable((b) => b.save(value, options));
    else await this.toAll(value, -1, options);
  }

  /**
   * Read-modify-write on the first available backend; under `'all'` the result is then saved to
   * the others, under `'primary-then-queue'` it is written (and queued) like a save.
   */
  update(recipe: Recipe<S>): Promise<Frozen<S>> {
    if (this.closed) return Promise.reject(new ClosedError('fallback agent'));
    return this.writeOrder.run(async () => {
      if (this.queue) {
        // serialised by writeOrder within this process: the queue is owned by one process
        const base = thawed<S>(await this.read((b) => b.load()));
        const next = prepare(runRecipe('update', () => produce(base, recipe as never)) as S).value;
        await this.write(next);
        return frozen(next);
      }
      const { value: next, index } = await this.firstAvailable((b, i) => readModifyWrite(b, this.mutexes[i]!, (base) => runRecipe('update', () => produce(base, recipe as never)) as S));
      if (this.writes === 'all') await this.toAll(thawed<S>(next), index);
      return next;
    });
  }

  /** Replay what is queued for backends that are back now; resolves to the writes still queued (0 unless `'primary-then-queue'`). */
  async drain(): Promise<number> {
    this.assertOpen();
    return this.queue ? this.queue.drain() : 0;
  }

  /** Per backend: available (probed now), writes queued for it, in sync; and the total queue depth. */
  async status(): Promise<FailoverStatus> {
    this.assertOpen();
    return failoverStatus(this.writes, this.ranked, this.targets, this.queue);
  }

  /** Stops replaying (what is queued stays in the queue log for the next process) and closes every backend; the queue log is yours to close. */
  async close(): Promise<void> {
    // operations after close are ClosedError, not an AggregateError of every backend's ClosedError
    if (this.closed) return;
    this.closed = true;
    await this.queue?.close();
    const errors: unknown[] = [];
    for (const b of this.backends) if (isClosable(b)) await b.close().catch((e: unknown) => errors.push(e));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} fallback backends failed to close`);
  }

  private closed = false;

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('fallback agent');
  }

  /** A read: under `'primary-then-queue'` from an up-to-date backend first, then from one that is behind. */
  private async read<T>(op: (b: DataAgent<S>, i: number) => Promise<T>): Promise<T> {
    if (!this.queue) return (await this.firstAvailable(op)).value;
    await this.queue.ready;
    const q = this.queue;
    const order = this.backends.map((_, i) => i);
    const inSync = order.filter((i) => q.inSync(i));
    return (await this.firstAvailable(op, [...inSync, ...order.filter((i) => !q.inSync(i))])).value;
  }

  private async firstAvailable<T>(op: (b: DataAgent<S>, i: number) => Promise<T>, order?: readonly number[]): Promise<{ value: T; index: number }> {
    let first: BackendUnavailableError | undefined;
    for (const i of order ?? this.backends.map((_, j) => j)) {
      try {
        return { value: await op(this.backends[i]!, i), index: i };
      } catch (e) {
        if (!isUnavailable(e)) throw e;
        first ??= e;
        this.queue?.setAvailable(i, false, e);
        this.options.onFailover?.(i, e);
      }
    }
    throw first!;
  }

  private async toAll(value: S, skip: number, options?: SaveOptions): Promise<void> {
    const errors: unknown[] = [];
    for (let i = 0; i < this.backends.length; i++) {
      if (i === skip) continue;
      try {
        await this.backends[i]!.save(value, options);
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} of ${this.backends.length} fallback backends failed the write`);
  }
}

/**
 * Ordered backends with failover on BackendUnavailableError: over DataAgents a
 * {@link FallbackAgent}, over Stores a {@link FallbackStore}. See {@link FallbackAgent} for the policies.
 */
export function fallback(stores: readonly (Store | PrioritizedBackend<Store>)[], options?: FallbackStoreOptions): FallbackStore;
export function fallback<S>(backends: readonly FallbackBackend<S>[], options?: FallbackOptions): FallbackAgent<S>;
export function fallback<S>(backends: readonly (FallbackBackend<S> | Store | PrioritizedBackend<Store>)[], options?: FallbackOptions): FallbackAgent<S> | FallbackStore {
  const first = Array.isArray(backends) ? backends[0] : undefined;
  if (first instanceof Store || (typeof first === 'object' && first !== null && (first as PrioritizedBackend<unknown>).backend instanceof Store)) {
    return new FallbackStore(backends as readonly (Store | PrioritizedBackend<Store>)[], options);
  }
  return new FallbackAgent(backends as readonly FallbackBackend<S>[], options);
}
