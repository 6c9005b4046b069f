/**
 * Lenses: a DataAgent over part of another agent's state.
 *
 * @example
 * ```ts
 * const whole = new PersistentAgent<{ profile: Profile; turns: string[] }>({ path: './agent.json' });
 * const turns = lens.prop(whole, 'turns');          // DataAgent<string[]>
 * await turns.update((t) => { t.push('hi'); });       // one atomic update of the whole state
 * const name = lens.path<Whole, string>(whole, 'profile', 'name');
 * const upper = lens(whole, (w) => w.profile.name.toUpperCase(), (w, n) => ({ ...w, profile: { ...w.profile, name: n.toLowerCase() } }));
 * ```
 *
 * A lens `{ get, set }` must obey the lens laws, which {@link propLens} and {@link pathLens} do:
 * - GetPut: `set(s, get(s))` equals `s` (writing back what was read changes nothing);
 * - PutGet: `get(set(s, a))` equals `a` (what was written is read back);
 * - PutPut: `set(set(s, a), b)` equals `set(s, b)` (the last write wins).
 * `set` must not mutate its arguments: the whole state is frozen.
 */
import { produce } from 'immer';
import { runRecipe } from '../agents/recipe-errors.js';
import { prepare } from '../core/codec.js';
import { frozen, thawed, type Frozen } from '../core/frozen.js';
import { ClosedError, ConcurrencyError, StateNotFoundError } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import { isClosable, isSubscribable, isVersioned } from '../agents/data-agent.js';
import type { ChangeInfo, Closable, DataAgent, LoadAtTarget, Recipe, SaveOptions, Unsubscribe, Updatable } from '../agents/data-agent.js';
import { readModifyWrite } from './read-modify-write.js';

/** A focus on a part `A` of a whole `S`. */
export interface Lens<S, A> {
  get(whole: S): A;
  /** A new whole with the part replaced; never mutates `whole`. */
  set(whole: S, part: A): S;
}

/** Options of {@link lens}. */
export interface LensOptions<S> {
  /** The whole to write into when the underlying agent has no state yet (else such a save throws StateNotFoundError). */
  empty?: S | undefined;
  /** Close the underlying agent when the lens agent is closed (default false: the whole is shared). */
  closeWhole?: boolean | undefined;
}

type Key = string | number;

/** A lens on one property of an object (or one index of an array). The property must exist in the wholes it is used on. */
export function propLens<S, K extends keyof S & Key>(key: K): Lens<S, S[K]> {
  return pathLens<S, S[K]>(key);
}

/** A lens on a nested property: `pathLens('profile', 'name')`. Every step of the path must exist. */
export function pathLens<S, A = unknown>(...keys: Key[]): Lens<S, A> {
  return {
    get: (whole) => keys.reduce<unknown>((node, k) => (node as Record<Key, unknown>)[k], whole) as A,
    set: (whole, part) => setIn(whole, keys, 0, part) as S,
  };
}

function setIn(node: unknown, keys: readonly Key[], i: number, part: unknown): unknown {
  if (i === keys.length) return part;
  const k = keys[i]!;
  const container = node as Record<Key, unknown>;
  const child = setIn(container[k], keys, i + 1, part);
  // GetPut: an unchanged part keeps the very same whole
  if (Object.is(child, container[k]) && k in container) return node;
  if (Array.isArray(node)) {
    const copy = node.slice();
    copy[k as number] = child;
    return copy;
  }
  const copy: Record<Key, unknown> = { ...container };
  if (k === '__proto__') Object.defineProperty(copy, k, { value: child, enumerable: true, writable: true, configurable: true });
  else copy[k] = child;
  return copy;
}

/** A DataAgent over part of another agent's state. `version`/`loadAt`/`subscribe` follow the whole agent. */
export class LensAgent<S, A> implements DataAgent<A>, Updatable<A>, Closable {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: A;
  /** The whole's version; present when the whole agent is Versioned. */
  readonly version?: () => Promise<number>;
  /** The part at a version or time of the whole; present when the whole agent is Versioned. */
  readonly loadAt?: (target: LoadAtTarget) => Promise<Frozen<A>>;
  /** Notified of every change of the whole (with the part); present when the whole agent is Subscribable. */
  readonly subscribe?: (listener: (part: Frozen<A>, info: ChangeInfo) => void) => Unsubscribe;

  private readonly mutex = new Mutex();

  constructor(
    private readonly whole: DataAgent<S>,
    private readonly focus: Lens<S, A>,
    private readonly options: LensOptions<S> = {},
  ) {
    if (isVersioned(whole)) {
      this.version = async () => {
        this.assertOpen();
        return whole.version();
      };
      this.loadAt = async (target) => {
        this.assertOpen();
        return this.get(await whole.loadAt(target));
      };
    }
    if (isSubscribable(whole)) this.subscribe = (listener) => whole.subscribe((s, info) => listener(this.get(s), info));
  }

  async load(): Promise<Frozen<A>> {
    this.assertOpen();
    return this.get(await this.whole.load());
  }

  /**
   * Replace the part: one read-modify-write of the whole (atomic where the whole agent has
   * `update()`). With `expectedVersion`, the whole's version is checked.
   */
  async save(part: NoInfer<A> | Frozen<A>, options: SaveOptions = {}): Promise<void> {
    this.assertOpen();
    // Validated on its own first, so a SerializationError's path points into the part.
    const value = prepare(thawed<A>(part)).value;
    if (options.expectedVersion !== undefined) {
      const base = await this.wholeOrEmpty();
      await this.whole.save(this.focus.set(base, value), options);
      return;
    }
    await this.modify((base) => this.focus.set(base, value));
  }

  /** An immer recipe on the part, applied as one read-modify-write of the whole. Returns the new part. */
  async update(recipe: Recipe<A>): Promise<Frozen<A>> {
    this.assertOpen();
    const next = await this.modify((base) => this.focus.set(base, runRecipe('update', () => produce(this.focus.get(base), recipe as never)) as A));
    return this.get(next);
  }

  /** The part in each saved whole, newest first. */
  async history(limit?: number): Promise<Frozen<A>[]> {
    this.assertOpen();
    return (await this.whole.history(limit)).map((s) => this.get(s));
  }

  /** Closes the whole agent only with `closeWhole: true`. */
  async close(): Promise<void> {
    // this handle is closed even when the whole stays open for others: use after close is ClosedError
    this.closed = true;
    if (this.options.closeWhole && isClosable(this.whole)) await this.whole.close();
  }

  private closed = false;

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('lens agent');
  }

  private get(whole: S | Frozen<S>): Frozen<A> {
    // A computed part is a new object: freeze it like every loaded state (free for stored parts).
    return frozen(prepare(this.focus.get(thawed<S>(whole))).value);
  }

  private async wholeOrEmpty(): Promise<S> {
    try {
      return thawed<S>(await this.whole.load());
    } catch (e) {
      if (e instanceof StateNotFoundError && this.options.empty !== undefined) return this.options.empty;
      throw e;
    }
  }

  private async modify(step: (base: S) => S): Promise<Frozen<S>> {
    for (;;) {
      try {
        return await readModifyWrite(this.whole, this.mutex, step);
      } catch (e) {
        if (!(e instanceof StateNotFoundError) || this.options.empty === undefined) throw e;
      }
      // Nothing stored yet: create the whole from `empty`, unless someone else creates it first.
      try {
        const next = step(this.options.empty);
        await this.whole.save(next, isVersioned(this.whole) ? { expectedVersion: 0 } : {});
        return frozen(prepare(next).value);
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
  }
}

/**
 * A DataAgent over the part of `agent`'s state picked by `get` and replaced by `set` (or by a
 * {@link Lens}). See the module documentation for the laws the pair must obey.
 */
export function lens<S, A>(agent: DataAgent<S>, get: (whole: S) => A, set: (whole: S, part: A) => S, options?: LensOptions<S>): LensAgent<S, A>;
export function lens<S, A>(agent: DataAgent<S>, focus: Lens<S, A>, options?: LensOptions<S>): LensAgent<S, A>;
export function lens<S, A>(
  agent: DataAgent<S>,
  a: ((whole: S) => A) | Lens<S, A>,
  b?: ((whole: S, part: A) => S) | LensOptions<S>,
  c?: LensOptions<S>,
): LensAgent<S, A> {
  if (typeof a === 'function') return new LensAgent(agent, { get: a, set: b as (whole: S, part: A) => S }, c);
  return new LensAgent(agent, a, b as LensOptions<S> | undefined);
}

/** A lens agent on one property of the whole: `lens.prop(agent, 'turns')`. */
lens.prop = function prop<S, K extends keyof S & Key>(agent: DataAgent<S>, key: K, options?: LensOptions<S>): LensAgent<S, S[K]> {
  return new LensAgent(agent, propLens<S, K>(key), options);
};

/** A lens agent on a nested property: `lens.path<Whole, string>(agent, 'profile', 'name')`. */
lens.path = function path<S, A = unknown>(agent: DataAgent<S>, ...keys: Key[]): LensAgent<S, A> {
  return new LensAgent(agent, pathLens<S, A>(...keys));
};
