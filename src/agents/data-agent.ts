/**
 * The DataAgent contract and its optional capabilities.
 *
 * @example
 * ```ts
 * const agent: DataAgent<{ turns: string[] }> = new VolatileAgent({ initial: { turns: [] } });
 * await agent.save({ turns: ['hi'] });
 * const s = await agent.load(); // deeply frozen
 * ```
 */
import type { Draft } from 'immer';
import type { Frozen } from '../core/frozen.js';

export type { Frozen };

/** Typed load/save of one agent's state. */
export interface DataAgent<S> {
  /**
   * Type-level only, never set: carries `S` so that TypeScript infers an agent's state type from
   * it (`new CachedAgent({ cache, backend })`, `lens(agent, ...)`) rather than from the read-only
   * form `load()` returns. Agents declare it with `declare readonly '~state'?: S`.
   */
  readonly '~state'?: S;
  /** The current state, deeply frozen (and so read-only in its type). `StateNotFoundError` when nothing was ever saved. */
  load(): Promise<Frozen<S>>;
  /** Store a new state (a loaded, frozen one too). The agent keeps an independent, frozen copy. */
  save(state: NoInfer<S> | Frozen<S>, options?: SaveOptions): Promise<void>;
  /** Saved states, newest first; the current state is at [0]. */
  history(limit?: number): Promise<Frozen<S>[]>;
}

/** Options of `save`. */
export interface SaveOptions {
  /** Optimistic concurrency: the version the caller last saw (0 = never saved). */
  expectedVersion?: number | undefined;
}

/**
 * A window of saved states, for `history({ since, until, limit })` of versioned agents: states saved
 * at or after `since` and at or before `until` (a Date, epoch milliseconds or an ISO 8601 string),
 * newest first, at most `limit`. A bad time or limit is a ValidationError.
 */
export interface HistoryOptions {
  since?: Date | number | string | undefined;
  until?: Date | number | string | undefined;
  limit?: number | undefined;
}

/** A point in an agent's past: a version number (1-based) or a time. */
export type LoadAtTarget = { version: number } | { time: Date | number | string };

/** Capability: numbered versions, optimistic concurrency and time travel. */
export interface Versioned<S> {
  /** The current version; 0 when never saved. */
  version(): Promise<number>;
  /** Save, failing with `ConcurrencyError { expected, actual }` when the version moved. */
  save(state: NoInfer<S> | Frozen<S>, options?: SaveOptions): Promise<void>;
  /** The state at a version, or the latest state saved at or before a time. */
  loadAt(target: LoadAtTarget): Promise<Frozen<S>>;
  /** Saved states, newest first: `history(limit)`, or the states saved in a time window (see {@link HistoryOptions}). */
  history(options?: number | HistoryOptions): Promise<Frozen<S>[]>;
}

/** An immer recipe: mutate the draft, or return a new state (a loaded, frozen one too). */
export type Recipe<S> = (draft: Draft<S>) => void | S | Frozen<S> | Draft<S> | undefined;

/** Capability: read-modify-write with immer and optimistic concurrency, retried on conflict. */
export interface Updatable<S> {
  /** Resolves to the state stored, frozen. */
  update(recipe: Recipe<S>): Promise<Frozen<S>>;
}

/** What a change listener receives. */
export interface ChangeInfo {
  version: number;
  time: Date;
}

/** Stops a subscription. */
export type Unsubscribe = () => void;

/** Capability: change notifications. */
export interface Subscribable<S> {
  subscribe(listener: (state: Frozen<S>, info: ChangeInfo) => void): Unsubscribe;
}

/** Capability: resources to release. */
export interface Closable {
  close(): Promise<void>;
}

function hasFn(x: unknown, name: string): boolean {
  return typeof x === 'object' && x !== null && typeof (x as Record<string, unknown>)[name] === 'function';
}

/** Type guard for {@link Versioned}. */
export function isVersioned<S>(agent: DataAgent<S>): agent is DataAgent<S> & Versioned<S> {
  return hasFn(agent, 'version') && hasFn(agent, 'loadAt');
}

/** Type guard for {@link Updatable}. */
export function isUpdatable<S>(agent: DataAgent<S>): agent is DataAgent<S> & Updatable<S> {
  return hasFn(agent, 'update');
}

/** Type guard for {@link Subscribable}. */
export function isSubscribable<S>(agent: DataAgent<S>): agent is DataAgent<S> & Subscribable<S> {
  return hasFn(agent, 'subscribe');
}

/** Type guard for {@link Closable}. */
export function isClosable(x: unknown): x is Closable {
  return hasFn(x, 'close');
}
