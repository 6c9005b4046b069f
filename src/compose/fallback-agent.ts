/**
 * Fallback: ordered backends with failover on BackendUnavailableError.
 *
 * @example
 * ```ts
 * const agent = fallback([new SQLAgent({ connectionString, id: 'a1' }), new PersistentAgent({ path: './a1.json' })]);
 * await agent.save(state);   // written to both (writes: 'all')
 * await agent.load();        // from PostgreSQL, or from the file while PostgreSQL is down
 * ```
 *
 * Reads (`load`, `history`) come from the first backend that does not throw
 * BackendUnavailableError; any other error (StateNotFoundError, CorruptionError...) is that
 * backend's answer and is thrown as is. When every backend is unavailable, the first backend's
 * error is thrown.
 *
 * Writes, by `writes`:
 * - `'all'` (default): every backend, in order; the save resolves only when all took it and
 *   otherwise throws (an AggregateError when several failed). So every save that resolved is on
 *   every backend and a failover read never goes back before it. A rejected save is still
 *   written to the backends that were up, so they may differ until the next save resolves.
 * - `'first-available'`: the first backend that is not unavailable. Writes keep working while
 *   the primary is down, but those states exist only on a later backend: once the primary is
 *   back, reads return its older state. Availability over consistency; choose knowingly.
 *
 * `update()` runs on the first available backend (with its optimistic concurrency) and, under
 * `'all'`, the result is then saved to the others.
 */
import { BackendUnavailableError, ClosedError, ValidationError } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import { isClosable } from '../agents/data-agent.js';
import type { Closable, DataAgent, Recipe, SaveOptions, Updatable } from '../agents/data-agent.js';
import { readModifyWrite } from './read-modify-write.js';
import { produce } from 'immer';
import { prepare } from '../core/codec.js';
import { thawed, type Frozen } from '../core/frozen.js';

/** Where writes go. */
export type FallbackWritePolicy = 'all' | 'first-available';

/** Options of {@link fallback}. */
export interface FallbackOptions {
  /** Default `'all'`. */
  writes?: FallbackWritePolicy | undefined;
  /** Told each time a backend is skipped because it is unavailable. */
  onFailover?: ((index: number, error: BackendUnavailableError) => void) | undefined;
}

/** A DataAgent over ordered backends. */
export class FallbackAgent<S> implements DataAgent<S>, Updatable<S>, Closable {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: S;
  private readonly writes: FallbackWritePolicy;
  private readonly mutexes: Mutex[];
  /** Orders this instance's writes, so that every backend receives them in the same order. */
  private readonly writeOrder = new Mutex();

  constructor(
    private readonly backends: readonly DataAgent<S>[],
    private readonly options: FallbackOptions = {},
  ) {
    if (!Array.isArray(backends) || backends.length === 0) throw new ValidationError('fallback needs at least one backend');
    if (backends.some((b) => !b || typeof b.load !== 'function')) throw new ValidationError('every fallback backend must be a DataAgent');
    const writes = options.writes ?? 'all';
    if (writes !== 'all' && writes !== 'first-available') throw new ValidationError(`writes must be 'all' or 'first-available', got ${JSON.stringify(writes)}`);
    this.writes = writes;
    this.mutexes = backends.map(() => new Mutex());
  }

  load(): Promise<Frozen<S>> {
    if (this.closed) return Promise.reject(new ClosedError('fallback agent'));
    return this.firstAvailable((b) => b.load()).then((r) => r.value);
  }

  async history(limit?: number): Promise<Frozen<S>[]> {
    this.assertOpen();
    return (await this.firstAvailable((b) => b.history(limit))).value;
  }

  /** Save by the write policy. An `expectedVersion` is checked by each backend written. */
  async save(state: NoInfer<S> | Frozen<S>, options?: SaveOptions): Promise<void> {
    this.assertOpen();
    const value = prepare(thawed<S>(state)).value;
    await this.writeOrder.run(async () => {
      if (this.writes === 'first-available') await this.firstAvailable((b) => b.save(value, options));
      else await this.toAll(value, -1, options);
    });
  }

  /** Read-modify-write on the first available backend; under `'all'` the result is then saved to the others. */
  update(recipe: Recipe<S>): Promise<Frozen<S>> {
    if (this.closed) return Promise.reject(new ClosedError('fallback agent'));
    return this.writeOrder.run(async () => {
      const { value: next, index } = await this.firstAvailable((b, i) => readModifyWrite(b, this.mutexes[i]!, (base) => produce(base, recipe as never) as S));
      if (this.writes === 'all') await this.toAll(thawed<S>(next), index);
      return next;
    });
  }

  /** Closes every backend. */
  async close(): Promise<void> {
    // operations after close are ClosedError, not an AggregateError of every backend's ClosedError
    this.closed = true;
    const errors: unknown[] = [];
    for (const b of this.backends) if (isClosable(b)) await b.close().catch((e: unknown) => errors.push(e));
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} fallback backends failed to close`);
  }

  private closed = false;

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('fallback agent');
  }

  private async firstAvailable<T>(op: (b: DataAgent<S>, i: number) => Promise<T>): Promise<{ value: T; index: number }> {
    let first: BackendUnavailableError | undefined;
    for (let i = 0; i < this.backends.length; i++) {
      try {
        return { value: await op(this.backends[i]!, i), index: i };
      } catch (e) {
        if (!(e instanceof BackendUnavailableError)) throw e;
        first ??= e;
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

/** Ordered backends with failover on BackendUnavailableError; see {@link FallbackAgent} for the policies. */
export function fallback<S>(backends: readonly DataAgent<S>[], options?: FallbackOptions): FallbackAgent<S> {
  return new FallbackAgent(backends, options);
}
