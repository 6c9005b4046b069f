/**
 * The shared machinery of versioned agents: `update()` with immer and bounded OCC retry,
 * change listeners, history limits. Backends implement four primitives.
 */
import { produce } from 'immer';
import { runRecipe } from './recipe-errors.js';
import { ConcurrencyError, StateNotFoundError, ValidationError, ClosedError, shown } from '../core/errors.js';
import { backoffMs, Mutex, sleep } from '../core/mutex.js';
import { prepare } from '../core/codec.js';
import { frozen, thawed, type Frozen } from '../core/frozen.js';
import type { ChangeInfo, DataAgent, HistoryOptions, LoadAtTarget, Recipe, SaveOptions, Subscribable, Unsubscribe, Updatable, Versioned } from './data-agent.js';
import { hasTimeBounds, historyWindow, selectWindow, type HistoryWindow } from './history-window.js';
import { checkLoadAtTarget } from './load-at.js';
import './immer-setup.js';

/** A stored state with its version and time. */
export interface Snapshot<S> {
  state: S;
  version: number;
  time: Date;
}

/** Options shared by every versioned agent. */
export interface VersionedAgentOptions<S> {
  /** State returned by `load()` (and used as the base of `update()`) before the first save. */
  initial?: S | Frozen<S> | undefined;
  /** How many times `update()` retries after a ConcurrencyError (default 50). */
  maxRetries?: number | undefined;
}

/**
 * Base class for agents with versions. Subclasses implement `current()`, `write()`, `readHistory()`
 * and `readAt()`; this class provides `load`, `save`, `update`, `history`, `version`, `loadAt`,
 * `subscribe`.
 */
export abstract class VersionedAgent<S> implements DataAgent<S>, Versioned<S>, Updatable<S>, Subscribable<S> {
  /** Type-level only (see {@link DataAgent}): carries the state type for inference. */
  declare readonly '~state'?: S;
  protected readonly initial: S | undefined;
  protected readonly hasInitial: boolean;
  private readonly maxRetries: number;
  private readonly updates = new Mutex();
  private readonly listeners = new Set<(state: Frozen<S>, info: ChangeInfo) => void>();
  protected closed = false;

  constructor(options: VersionedAgentOptions<S> = {}) {
    this.hasInitial = 'initial' in options && options.initial !== undefined;
    this.initial = this.hasInitial ? prepare(options.initial as S).value : undefined;
    this.maxRetries = options.maxRetries ?? 50;
  }

  /** The latest stored snapshot, or undefined when never saved. */
  protected abstract current(): Promise<Snapshot<S> | undefined>;
  /**
   * Store `state` (already validated and frozen) as version expectedVersion + 1, atomically checking
   * expectedVersion (undefined = any). Returns the new snapshot. `hasBinary`: whether the state holds
   * bytes, as the prepare that produced it found (undefined when not known).
   */
  protected abstract write(state: S, expectedVersion: number | undefined, hasBinary?: boolean): Promise<Snapshot<S>>;
  /** Stored snapshots, newest first, at most `limit`. */
  protected abstract readHistory(limit: number): Promise<Snapshot<S>[]>;
  /** The snapshot at a version, or the latest at or before a time; undefined when none. */
  protected abstract readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined>;

  /** A human-readable name for errors. */
  protected describe(): string {
    return this.constructor.name;
  }

  protected assertOpen(): void {
    if (this.closed) throw new ClosedError(this.describe());
  }

  async load(): Promise<Frozen<S>> {
    this.assertOpen();
    const cur = await this.current();
    if (cur) return frozen(cur.state);
    if (this.hasInitial) return frozen(this.initial as S);
    throw new StateNotFoundError(`${this.describe()}: no state has been saved yet`);
  }

  async save(state: NoInfer<S> | Frozen<S>, options: SaveOptions = {}): Promise<void> {
    this.assertOpen();
    if (options.expectedVersion !== undefined && (!Number.isInteger(options.expectedVersion) || options.expectedVersion < 0)) {
      throw new ValidationError(`expectedVersion must be an integer >= 0, got ${shown(options.expectedVersion)}`);
    }
    const prepared = prepare(thawed<S>(state));
    const snap = await this.write(prepared.value, options.expectedVersion, prepared.hasBinary);
    this.emit(snap);
  }

  async version(): Promise<number> {
    this.assertOpen();
    return (await this.current())?.version ?? 0;
  }

  /**
   * Saved states, newest first: `history(limit)`, or `history({ since, until, limit })` for the
   * states saved in a time window (bounds inclusive; Date, epoch ms or ISO 8601 string).
   */
  async history(options?: number | HistoryOptions): Promise<Frozen<S>[]> {
    this.assertOpen();
    const w = historyWindow(options);
    if (w.limit === 0) return [];
    const snaps = hasTimeBounds(w) ? await this.readHistoryWindow(w) : await this.readHistory(w.limit);
    return snaps.map((s) => frozen(s.state));
  }

  /**
   * Stored snapshots inside a time window, newest first, at most `w.limit`. This default filters
   * the whole history in process; backends that can select by time in storage override it.
   */
  protected async readHistoryWindow(w: HistoryWindow): Promise<Snapshot<S>[]> {
    return selectWindow(await this.readHistory(Number.MAX_SAFE_INTEGER), w);
  }

  async loadAt(target: LoadAtTarget): Promise<Frozen<S>> {
    this.assertOpen();
    checkLoadAtTarget(target);
    const snap = await this.readAt(target);
    if (!snap) {
      const what = 'version' in target ? `version ${target.version}` : `time ${new Date(target.time as never).toISOString?.() ?? String(target.time)}`;
      throw new StateNotFoundError(`${this.describe()}: no state at ${what}`);
    }
    return frozen(snap.state);
  }

  /**
   * Read-modify-write: apply an immer recipe to the current state and save it with
   * `expectedVersion`, retrying on ConcurrencyError. Calls on one instance run one at a time, so
   * only other processes can cause retries. Returns the new state.
   */
  update(recipe: Recipe<S>): Promise<Frozen<S>> {
    return this.updates.run(async () => {
      let lastError: ConcurrencyError | undefined;
      for (let attempt = 0; attempt <= this.maxRetries; attempt++) {
        this.assertOpen();
        const cur = await this.current();
        let base: S;
        if (cur) base = cur.state;
        else if (this.hasInitial) base = this.initial as S;
        else throw new StateNotFoundError(`${this.describe()}: update() needs a saved state or an initial state`);
        const next = runRecipe('update', () => produce(base, recipe as never) as S);
        const prepared = prepare(next);
        try {
          const snap = await this.write(prepared.value, cur?.version ?? 0, prepared.hasBinary);
          this.emit(snap);
          return frozen(snap.state);
        } catch (e) {
          if (!(e instanceof ConcurrencyError)) throw e;
          lastError = e;
          await sleep(backoffMs(attempt));
        }
      }
      throw lastError!;
    });
  }

  subscribe(listener: (state: Frozen<S>, info: ChangeInfo) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  protected emit(snap: Snapshot<S>): void {
    for (const l of [...this.listeners]) {
      try {
        l(frozen(snap.state), { version: snap.version, time: snap.time });
      } catch (e) {
        // a listener's failure must not undo or hide a save that succeeded; surface it asynchronously
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }
}
