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

/** Typed load/save of one agent's state. */
export interface DataAgent<S> {
  /** The current state, deeply frozen. `StateNotFoundError` when nothing was ever saved. */
  load(): Promise<S>;
  /** Store a new state. The agent keeps an independent, frozen copy. */
  save(state: S, options?: SaveOptions): Promise<void>;
  /** Saved states, newest first; the current state is at [0]. */
  history(limit?: number): Promise<S[]>;
}

/** Options of `save`. */
export interface SaveOptions {
  /** Optimistic concurrency: the version the caller last saw (0 = never saved). */
  expectedVersion?: number;
}

/** A point in an agent's past: a version number (1-based) or a time. */
export type LoadAtTarget = { version: number } | { time: Date | number | string };

/** Capability: numbered versions, optimistic concurrency and time travel. */
export interface Versioned<S> {
  /** The current version; 0 when never saved. */
  version(): Promise<number>;
  /** Save, failing with `ConcurrencyError { expected, actual }` when the version moved. */
  save(state: S, options?: SaveOptions): Promise<void>;
  /** The state at a version, or the latest state saved at or before a time. */
  loadAt(target: LoadAtTarget): Promise<S>;
}

/** An immer recipe: mutate the draft, or return a new state. */
export type Recipe<S> = (draft: Draft<S>) => void | S | Draft<S> | undefined;

/** Capability: read-modify-write with immer and optimistic concurrency, retried on conflict. */
export interface Updatable<S> {
  update(recipe: Recipe<S>): Promise<S>;
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
  subscribe(listener: (state: S, info: ChangeInfo) => void): Unsubscribe;
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
