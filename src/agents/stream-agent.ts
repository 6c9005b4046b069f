/**
 * StreamAgent: an agent whose state is the fold of an event stream. `append` records domain
 * events, `load()` folds them (from the latest snapshot plus the tail), `loadAt` travels in time,
 * and the DataAgent calls work too: `save` appends a `$state` event, `update` a `$patch` event
 * holding only immer's patches. Versions are stream revisions.
 *
 * @example
 * ```ts
 * type CartEvent = { type: 'Added'; data: { sku: string } } | { type: 'Removed'; data: { sku: string } };
 * const cart = new StreamAgent<CartEvent, { items: string[] }>({
 *   log, stream: 'cart-1', initial: { items: [] }, snapshotEvery: 100,
 *   fold: (s, e) => (e.type === 'Added' ? { items: [...s.items, e.data.sku] } : { items: s.items.filter((x) => x !== e.data.sku) }),
 * });
 * await cart.append({ type: 'Added', data: { sku: 'a1' } }, { expectedRevision: 0 });
 * const now = await cart.load();
 * const before = await cart.loadAt({ revision: 1 });
 * ```
 */
import { isPrepared, prepare } from '../core/codec.js';
import { frozen, type Frozen } from '../core/frozen.js';
import { ConcurrencyError, StateNotFoundError, ValidationError, shown } from '../core/errors.js';
import { toMs } from '../core/ids.js';
import { backoffMs, Mutex, sleep } from '../core/mutex.js';
import type { AppendResult, EventLog, ExpectedRevision, NewEvent, NewEventOf, RecordedEvent, RecordedEventOf } from '../streams/event-log.js';
import { validateName } from '../streams/validate.js';
import type { ChangeInfo, LoadAtTarget, Recipe } from './data-agent.js';
import { applyBuiltin, isBuiltinEvent, isReservedType, recordRecipe, STATE_EVENT } from './stream/builtin-events.js';
import { MemorySnapshotStore } from './stream/memory-snapshot-store.js';
import type { SnapshotStore } from './stream/snapshot-store.js';
import { Snapshotter, type ErrorReporter, type Head, type StreamAgentErrorContext } from './stream/snapshotter.js';
import { followStream, type StreamUnsubscribe } from './stream/follow.js';
import { eventAt, revisionAtTime } from './stream/time-travel.js';
import { Replayer } from './stream/replayer.js';
import { ProgressMeter } from './stream/progress-meter.js';
import type { RebuildOptions } from '../projections/runner/types.js';
import { VersionedAgent, type Snapshot } from './versioned-agent.js';

/** An event as `append` takes it: `{ type, data }`, optional metadata and id. */
export type StreamEvent = NewEvent;

/** A user event as the fold receives it: the recorded event with `type` and `data` narrowed to `E`. */
export type RecordedStreamEvent<E extends StreamEvent> = RecordedEventOf<E>;

/** A pure fold step: the state after `event`. States are frozen: return a new state (immer's `produce` helps). */
export type Fold<E extends StreamEvent, S> = (state: S, event: RecordedStreamEvent<E>) => S;

/** Options of {@link StreamAgent} shared by both forms of {@link StreamAgentOptions}. */
export interface StreamAgentCommonOptions<E extends StreamEvent = StreamEvent> {
  /** the event log holding the stream (the agent does not close it): one typed for the agent's events, or an untyped one */
  log: EventLog<E> | EventLog;
  /** the stream's name */
  stream: string;
  /** store a snapshot every N events (default 100 when `snapshots` is given, otherwise no snapshots) */
  snapshotEvery?: number | undefined;
  /** where snapshots go (default: a MemorySnapshotStore when `snapshotEvery` is given) */
  snapshots?: SnapshotStore | undefined;
  /** version of the fold; snapshots made with another version are ignored (default '1'). Bump it when the fold changes. */
  foldVersion?: string | number | undefined;
  /** told about failures that must not fail the caller: snapshot reads/writes, subscriptions (default: a process warning) */
  onError?: ErrorReporter | undefined;
  /** how many times `update()` retries after a ConcurrencyError (default 50) */
  maxRetries?: number | undefined;
}

/**
 * Options of {@link StreamAgent}. With a `fold`, `initial` is required (the state the first event
 * folds over); without one, only the built-in `$state`/`$patch` events are understood.
 */
export type StreamAgentOptions<E extends StreamEvent, S> = StreamAgentCommonOptions<E> & ({ fold: Fold<E, S>; initial: S } | { fold?: undefined; initial?: S | undefined });

/** Options of {@link StreamAgent.append}. */
export interface StreamAppendOptions {
  /** optimistic concurrency on the stream revision (default 'any') */
  expectedRevision?: ExpectedRevision | undefined;
}

/** Options of {@link StreamAgent.subscribe}. */
export interface StreamSubscribeOptions {
  /** deliver the state after every event with a higher revision (default: the revision when the subscription starts) */
  fromRevision?: number | undefined;
}

const warn: ErrorReporter = (error, ctx) => {
  const msg = error instanceof Error ? error.message : String(error);
  process.emitWarning(`StreamAgent ${ctx.operation} failed on stream ${JSON.stringify(ctx.stream)}${ctx.revision ? ` at revision ${ctx.revision}` : ''}: ${msg}`, 'DgentWarning');
};

/** An event-sourced agent over any {@link EventLog}; see the module comment. */
export class StreamAgent<E extends StreamEvent = StreamEvent, S = unknown> extends VersionedAgent<S> {
  /** the log the stream lives in */
  readonly log: EventLog;
  /** the stream this agent folds */
  readonly stream: string;
  private readonly userFold: Fold<E, S> | undefined;
  private readonly snap: Snapshotter<S> | undefined;
  private readonly report: ErrorReporter;
  private readonly retries: number;
  private readonly updateLock = new Mutex();
  private readonly follows = new Set<StreamUnsubscribe>();
  private readonly replayer: Replayer<S>;
  /** the latest state this instance has folded (state frozen by the codec) */
  private head: Head<S> | undefined;

  constructor(options: StreamAgentOptions<E, S>) {
    super({ initial: options.initial, maxRetries: options.maxRetries });
    if (!options.log || typeof options.log.read !== 'function') throw new ValidationError('StreamAgent needs { log: EventLog }');
    // inside, events are handled untyped; the fold receives them typed
    this.log = options.log as EventLog;
    this.stream = validateName(options.stream, 'stream');
    if (options.fold !== undefined && typeof options.fold !== 'function') throw new ValidationError('fold must be a function');
    if (options.fold && !this.hasInitial) throw new ValidationError('StreamAgent with a fold needs an initial state');
    this.userFold = options.fold;
    this.retries = options.maxRetries ?? 50;
    this.report = options.onError ?? warn;
    const every = options.snapshotEvery ?? (options.snapshots ? 100 : undefined);
    if (every !== undefined) {
      if (!Number.isInteger(every) || every < 1) throw new ValidationError(`snapshotEvery must be an integer >= 1, got ${shown(every)}`);
      const store = options.snapshots ?? new MemorySnapshotStore();
      this.snap = new Snapshotter(store, this.stream, String(options.foldVersion ?? '1'), every, (e, c) => this.report(e, c));
    }
    this.replayer = new Replayer<S>({
      log: this.log,
      stream: this.stream,
      step: (state, exists, e) => this.step(state, exists, e),
      zero: () => this.zero(),
      cached: () => this.head,
      snapshots: this.snap,
      report: (e, c) => this.report(e, c),
    });
  }

  protected override describe(): string {
    return `StreamAgent(${JSON.stringify(this.stream)})`;
  }

  /**
   * Append domain events (folded by `fold`). Types starting with `$` are reserved. Snapshots are
   * written later, by whoever folds past them, so they never delay or fail an append.
   */
  async append(events: NewEventOf<E> | readonly NewEventOf<E>[], options: StreamAppendOptions = {}): Promise<AppendResult> {
    this.assertOpen();
    const list = (Array.isArray(events) ? events : [events]) as readonly NewEvent[];
    if (!this.userFold) throw new ValidationError(`${this.describe()}: append needs a fold to interpret the events (options.fold)`);
    for (const e of list) {
      if (typeof e?.type === 'string' && isReservedType(e.type)) throw new ValidationError(`event type ${JSON.stringify(e.type)} is reserved: types starting with '$' belong to StreamAgent`);
    }
    return this.log.append(this.stream, list, { expectedRevision: options.expectedRevision });
  }

  override async load(): Promise<Frozen<S>> {
    this.assertOpen();
    const h = await this.refresh();
    if (!h.exists) throw new StateNotFoundError(`${this.describe()}: no state has been saved yet`);
    return frozen(this.out(h.state));
  }

  /** The state at a revision (`{ revision }` is the same as `{ version }`) or after the last event at or before a time. */
  override loadAt(target: LoadAtTarget | { revision: number }): Promise<Frozen<S>> {
    if (target && 'revision' in target) return super.loadAt({ version: target.revision });
    return super.loadAt(target);
  }

  /** Read-modify-write with immer: appends a `$patch` event at the revision the recipe saw, retried on conflict. */
  override update(recipe: Recipe<S>): Promise<Frozen<S>> {
    return this.updateLock.run(async () => {
      let last: ConcurrencyError | undefined;
      for (let attempt = 0; attempt <= this.retries; attempt++) {
        this.assertOpen();
        const head = await this.refresh();
        if (!head.exists) throw new StateNotFoundError(`${this.describe()}: update() needs a saved state or an initial state`);
        // bytes cannot be frozen: a recipe may change them in place, where patches cannot see it
        const binary = !isPrepared(head.state);
        // the first event of a stream holds a whole state, so that replays never depend on `initial`
        const { next, changed, event } = recordRecipe(this.out(head.state), recipe, binary || head.revision === 0);
        const prepared = prepare(next).value;
        // unchanged means unchanged, except for bytes, whose in-place changes immer cannot see
        if (!changed && !binary) return frozen(prepared);
        try {
          await this.log.append(this.stream, [event], { expectedRevision: head.revision });
          return frozen(binary ? prepare(prepared).value : prepared);
        } catch (e) {
          if (!(e instanceof ConcurrencyError)) throw e;
          last = e;
          await sleep(backoffMs(attempt));
        }
      }
      throw last!;
    });
  }

  /**
   * Call `listener` with the state after each new event of the stream, whoever appended it
   * (driven by the log's subscription). `ready` on the returned function resolves once live.
   */
  override subscribe(listener: (state: Frozen<S>, info: ChangeInfo) => void, options: StreamSubscribeOptions = {}): StreamUnsubscribe {
    this.assertOpen();
    const off = followStream<S>(
      {
        log: this.log,
        stream: this.stream,
        start: async () => {
          const from = options.fromRevision ?? (await this.log.revision(this.stream));
          if (!Number.isInteger(from) || from < 0) throw new ValidationError(`fromRevision must be an integer >= 0, got ${shown(from)}`);
          const head = await this.replayer.materialize(from);
          if (head.revision < from) throw new ValidationError(`fromRevision ${from} is beyond the stream's revision ${head.revision}`);
          return { head, position: from === 0 ? 0 : (await eventAt(this.log, this.stream, from))!.position };
        },
        step: (h, e) => this.replayer.advance(h, e),
        onState: (h) => {
          const kept = this.remember(h);
          try {
            listener(frozen(this.out(kept.state)), { version: kept.revision, time: kept.time! });
          } catch (e) {
            // a listener's failure must not stop the stream for other listeners; surface it asynchronously
            queueMicrotask(() => {
              throw e;
            });
          }
          return kept;
        },
        report: (e) => this.report(e, { operation: 'subscribe', stream: this.stream }),
      },
      () => this.follows.delete(off),
    );
    this.follows.add(off);
    return off;
  }

  /** Resolves when every snapshot write started so far has finished. */
  async flushSnapshots(): Promise<void> {
    await this.snap?.flush();
  }

  /** Delete this stream's snapshots (every fold version). Returns how many were deleted. */
  async deleteSnapshots(): Promise<number> {
    this.assertOpen();
    return (await this.snap?.deleteAll()) ?? 0;
  }

  /**
   * Delete the snapshots and fold the whole stream again, storing fresh ones. Returns the revision reached.
   * `onProgress` receives `{ processed, total, eventsPerSecond, etaMs }` (total: the stream's revision
   * when the rebuild started) at most every `progressEveryMs`, and once at the end.
   */
  async rebuildSnapshots(options: RebuildOptions = {}): Promise<number> {
    this.assertOpen();
    if (!this.snap) throw new ValidationError(`${this.describe()}: no snapshot store (set snapshotEvery or snapshots)`);
    await this.snap.deleteAll();
    const meter = new ProgressMeter(this.stream, options.onProgress ? await this.log.revision(this.stream) : 0, options);
    // onState sees the base (revision 0) first, then one state per event
    const h = await this.replayer.replay(this.zero(), undefined, Infinity, (s) => {
      if (s.revision > 0) meter.step();
    });
    await this.snap.flush();
    meter.done();
    return h.revision;
  }

  /** Stop subscriptions and wait for snapshot writes. The log and the snapshot store are the caller's to close. */
  override async close(): Promise<void> {
    if (this.closed) return;
    await super.close();
    await Promise.all([...this.follows].map((off) => off()));
    await this.snap?.flush();
  }

  protected async current(): Promise<Snapshot<S> | undefined> {
    const h = await this.refresh();
    return h.revision > 0 ? this.snapshotOf(h) : undefined;
  }

  protected async write(state: S, expectedVersion: number | undefined): Promise<Snapshot<S>> {
    const r = await this.log.append(this.stream, [{ type: STATE_EVENT, data: state }], { expectedRevision: expectedVersion ?? 'any' });
    return { state: isPrepared(state) ? state : prepare(state).value, version: r.revision, time: new Date() };
  }

  protected async readHistory(limit: number): Promise<Snapshot<S>[]> {
    const head = await this.refresh();
    if (head.revision === 0) return [];
    const start = Math.max(1, head.revision - limit + 1);
    const out: Snapshot<S>[] = [];
    await this.replayer.materialize(head.revision, start, (h) => {
      if (h.revision >= start) out.push(this.snapshotOf(h));
    });
    return out.reverse();
  }

  protected async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    let r: number;
    if ('version' in target) r = target.version;
    else {
      let t: number;
      try {
        t = toMs(target.time);
      } catch {
        throw new ValidationError(`loadAt time must be a Date, epoch milliseconds or an ISO string, got ${shown(target.time)}`);
      }
      r = await revisionAtTime(this.log, this.stream, t, await this.log.revision(this.stream));
      if (r === 0) return undefined;
    }
    const h = this.head?.revision === r ? this.head : await this.replayer.materialize(r);
    return h.revision === r && h.exists ? this.snapshotOf(h) : undefined;
  }

  /** Fold the tail after the cached head (or the latest snapshot) and remember the result. */
  private async refresh(): Promise<Head<S>> {
    return this.remember(await this.replayer.materialize(Infinity));
  }

  private remember(h: Head<S>): Head<S> {
    if (!isPrepared(h.state) && h.exists) {
      const p = prepare(h.state);
      h = { ...h, state: p.value };
    }
    if (!this.head || h.revision > this.head.revision) this.head = h;
    return h;
  }

  /** The state after one event: built-ins first, then the user's fold. */
  private step(state: S, exists: boolean, e: RecordedEvent): S {
    if (isBuiltinEvent(e)) return applyBuiltin(state, exists, e);
    if (this.userFold) return this.userFold(state, e as RecordedStreamEvent<E>);
    throw new ValidationError(`${this.describe()}: event type ${JSON.stringify(e.type)} at revision ${e.revision} needs a fold (options.fold)`);
  }

  private zero(): Head<S> {
    return { state: this.initial as S, exists: this.hasInitial, revision: 0, time: undefined, eventId: undefined };
  }

  /** Frozen states are handed out as they are; states holding bytes (which cannot be frozen) are copied. */
  private out(state: S): S {
    return isPrepared(state) ? state : prepare(state).value;
  }

  private snapshotOf(h: Head<S>): Snapshot<S> {
    return { state: this.out(h.state), version: h.revision, time: h.time ?? new Date(0) };
  }
}

/** Receives failures that must not fail the caller's operation. */
export type StreamAgentErrorReporter = ErrorReporter;
export type { StreamAgentErrorContext, StreamUnsubscribe };
