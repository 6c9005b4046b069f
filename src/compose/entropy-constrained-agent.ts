/**
 * EntropyConstrainedAgent: a size budget on the states an agent may store, measured in bytes of
 * the encoded UTF-8 form (what actually lands on disk or the wire, not object headers).
 *
 * @example
 * ```ts
 * const agent = new EntropyConstrainedAgent({ backend: new VolatileAgent<Notes>(), budget: 0.25, maxSizeBytes: 64 * 1024 });
 * await agent.save(notes); // StateTooLargeError { size, limit: 16384 } when notes encode to more
 *
 * // Sub-agents get less room the deeper they are nested: budget = 1 / (depth + 1).
 * const child = EntropyConstrainedAgent.forDepth(2, { backend, maxSizeBytes: 64 * 1024 }); // limit 21845 bytes
 * ```
 */
import { encode, encodedSize, prepare } from '../core/codec.js';
import { thawed, type Frozen } from '../core/frozen.js';
import { StateTooLargeError, ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import { isClosable, isSubscribable, isVersioned } from '../agents/data-agent.js';
import type { ChangeInfo, Closable, DataAgent, LoadAtTarget, Recipe, SaveOptions, Unsubscribe, Updatable } from '../agents/data-agent.js';
import { produce } from 'immer';
import { runRecipe } from '../agents/recipe-errors.js';
import { readModifyWrite } from './read-modify-write.js';
import type { SubscribableMember, VersionedMember } from './cached-agent.js';

/** What happens to a state over the limit. */
export type ExceedPolicy = 'reject' | 'warn';

/** Reported for a state over the limit under `onExceed: 'warn'`. */
export interface SizeReport {
  size: number;
  limit: number;
  budget: number;
}

/** Options of {@link EntropyConstrainedAgent}. */
export interface EntropyConstrainedAgentOptions<S, B extends DataAgent<S> = DataAgent<S>> {
  /** The agent that stores the states (its type `B` decides which capabilities the wrapper's type shows). */
  backend: B & DataAgent<S>;
  /** Fraction of `maxSizeBytes` this agent may use, in (0, 1]. */
  budget: number;
  /** Bytes of encoded state at budget 1 (default 1 MiB). */
  maxSizeBytes?: number | undefined;
  /** `'reject'` (default): throw StateTooLargeError and store nothing. `'warn'`: store and report. */
  onExceed?: ExceedPolicy | undefined;
  /** Receives the report under `'warn'` (default: `process.emitWarning`). */
  onWarn?: ((report: SizeReport) => void) | undefined;
}

/** Options of {@link EntropyConstrainedAgent.forDepth}: everything but the budget. */
export type EntropyDepthOptions<S, B extends DataAgent<S> = DataAgent<S>> = Omit<EntropyConstrainedAgentOptions<S, B>, 'budget'>;

/** Default `maxSizeBytes`: 1 MiB. */
export const DEFAULT_MAX_STATE_BYTES = 1024 * 1024;

/**
 * An agent whose saves are limited to `floor(budget × maxSizeBytes)` encoded bytes. `version()`,
 * `loadAt()` and `subscribe()` exist when the backend has them.
 */
export class EntropyConstrainedAgent<S, B extends DataAgent<S> = DataAgent<S>> implements DataAgent<S>, Updatable<S>, Closable {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: S;
  /** The backend's version; present when the backend is Versioned. */
  readonly version!: VersionedMember<B, () => Promise<number>>;
  /** The backend's state at a version or time; present when the backend is Versioned. */
  readonly loadAt!: VersionedMember<B, (target: LoadAtTarget) => Promise<Frozen<S>>>;
  /** The backend's change notifications; present when the backend is Subscribable. */
  readonly subscribe!: SubscribableMember<B, (listener: (state: Frozen<S>, info: ChangeInfo) => void) => Unsubscribe>;

  /** The fraction of `maxSizeBytes` in use. */
  readonly budget: number;
  /** The largest encoded state accepted, in bytes. */
  readonly limit: number;
  private readonly backend: DataAgent<S>;
  private readonly onExceed: ExceedPolicy;
  private readonly onWarn: (report: SizeReport) => void;
  private readonly mutex = new Mutex();

  /**
   * An agent for a sub-agent at nesting `depth` (0 = top level): budget = 1 / (depth + 1), so
   * depth 0 gets the whole `maxSizeBytes`, depth 1 half, depth 2 a third; it stays in (0, 1] at
   * any depth, unlike a geometric 0.5^depth which underflows to 0.
   */
  static forDepth<S, B extends DataAgent<S> = DataAgent<S>>(depth: number, options: EntropyDepthOptions<S, B>): EntropyConstrainedAgent<S, B> {
    if (!Number.isInteger(depth) || depth < 0) throw new ValidationError(`depth must be an integer >= 0, got ${shown(depth)}`);
    return new EntropyConstrainedAgent({ ...options, budget: 1 / (depth + 1) });
  }

  constructor(options: EntropyConstrainedAgentOptions<S, B>) {
    const { backend, budget } = options;
    if (!backend || typeof backend.load !== 'function') throw new ValidationError('EntropyConstrainedAgent needs a backend DataAgent');
    if (typeof budget !== 'number' || !(budget > 0 && budget <= 1)) {
      throw new ValidationError(`budget must be a number in (0, 1], got ${shown(budget)}`);
    }
    const max = options.maxSizeBytes ?? DEFAULT_MAX_STATE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new ValidationError(`maxSizeBytes must be an integer >= 1, got ${shown(max)}`);
    const onExceed = options.onExceed ?? 'reject';
    if (onExceed !== 'reject' && onExceed !== 'warn') throw new ValidationError(`onExceed must be 'reject' or 'warn', got ${JSON.stringify(onExceed)}`);
    this.backend = backend;
    this.budget = budget;
    // At least one byte, so a tiny budget still admits something rather than nothing at all.
    this.limit = Math.max(1, Math.floor(budget * max));
    this.onExceed = onExceed;
    this.onWarn = options.onWarn ?? ((r) => process.emitWarning(`state is ${r.size} bytes encoded, over the limit of ${r.limit} bytes (budget ${r.budget})`, 'StateTooLargeWarning'));
    if (isVersioned(backend)) {
      this.version = (() => backend.version()) as never;
      this.loadAt = ((target: LoadAtTarget) => backend.loadAt(target)) as never;
    }
    if (isSubscribable(backend)) this.subscribe = ((listener: (state: Frozen<S>, info: ChangeInfo) => void) => backend.subscribe(listener)) as never;
  }

  /** Encoded size of a state in UTF-8 bytes (SerializationError when it cannot be encoded). */
  sizeOf(state: S | Frozen<S>): number {
    return encodedSize(state);
  }

  load(): Promise<Frozen<S>> {
    return this.backend.load();
  }

  /** Save when the encoded state fits; over the limit: StateTooLargeError (stored state unchanged) or a warning. */
  async save(state: NoInfer<S> | Frozen<S>, options?: SaveOptions): Promise<void> {
    // Prepared once: the backend's own prepare() recognises the frozen value and re-uses it.
    const value = prepare(thawed<S>(state)).value;
    const size = Buffer.byteLength(encode(value), 'utf8');
    if (size > this.limit && this.onExceed === 'reject') throw new StateTooLargeError(size, this.limit);
    await this.backend.save(value, options);
    if (size > this.limit) this.onWarn({ size, limit: this.limit, budget: this.budget });
  }

  /** Read-modify-write on the backend; a result over the limit is rejected (or reported) like a save. */
  async update(recipe: Recipe<S>): Promise<Frozen<S>> {
    let size = 0;
    const next = await readModifyWrite(this.backend, this.mutex, (base) => {
      const candidate = prepare(runRecipe('update', () => produce(base, recipe as never)) as S).value;
      size = Buffer.byteLength(encode(candidate), 'utf8');
      if (size > this.limit && this.onExceed === 'reject') throw new StateTooLargeError(size, this.limit);
      return candidate;
    });
    if (size > this.limit) this.onWarn({ size, limit: this.limit, budget: this.budget });
    return next;
  }

  history(limit?: number): Promise<Frozen<S>[]> {
    return this.backend.history(limit);
  }

  /** Closes the backend. */
  async close(): Promise<void> {
    if (isClosable(this.backend)) await this.backend.close();
  }
}
