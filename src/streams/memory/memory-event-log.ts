/**
 * MemoryEventLog: the reference EventLog. Every other backend is checked against it by the
 * conformance suite, and it is the test double for code built on the log.
 *
 * Positions are 1-based and gapless; events are validated and deeply frozen by the codec once, at
 * append time, and reads hand out the stored objects without copying (except events holding
 * Uint8Array data, which the platform cannot freeze: those are copied per read).
 *
 * @example
 * ```ts
 * const log = new MemoryEventLog();
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * const sub = log.subscribe({}, (e) => console.log(e.position, e.type));
 * ```
 */
import { prepare } from '../../core/codec.js';
import { ClosedError, ValidationError, shown } from '../../core/errors.js';
import { newId, nowMs } from '../../core/ids.js';
import { Mutex } from '../../core/mutex.js';
import type {
  AppendHook,
  AppendOptions,
  AppendResult,
  AppendTransaction,
  EventLog,
  EventLogCapabilities,
  InlineProjectionHost,
  MultiStreamAppender,
  NewEvent,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
} from '../event-log.js';
import type { NewEventOf, RecordedEventOf } from '../event-log.js';
import { catchUpSubscription, SubscriptionSet } from '../subscription.js';
import { ERASED_EVENT_TYPE, validateErase } from '../erase.js';
import { addAppendHook } from '../append-hooks.js';
import { checkExpected, resolveEventIds, validateEvents, validateExpected, validateName, validateReadAllOptions, validateReadOptions } from '../validate.js';
import { prepareAppends, runHooks, type PlannedAppend } from './append.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

/** Options of {@link MemoryEventLog}. */
export interface MemoryEventLogOptions extends ObservabilityOptions {
  /** subscription page size (default 256) */
  pageSize?: number | undefined;
}

/** The in-memory transaction handed to `onAppend` hooks. */
export type MemoryAppendTransaction = AppendTransaction;

/**
 * In-memory event log with atomic multi-stream appends and inline hooks.
 *
 * Event ids are unique across the log. Appending a batch whose ids all match a stored batch of the
 * same stream (same order, consecutive revisions) is an idempotent retry: nothing is appended and
 * the original result is returned. Any other reuse of a stored id throws ValidationError.
 */
export class MemoryEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, MultiStreamAppender, InlineProjectionHost<MemoryAppendTransaction> {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: true, supportsInlineProjections: true, durable: false });
  /** index = position - 1 */
  private readonly all: RecordedEvent[] = [];
  /** index = revision - 1 */
  private readonly streams = new Map<string, RecordedEvent[]>();
  private readonly ids = new Map<string, RecordedEvent>();
  /** events whose data or metadata holds Uint8Array: copied on every read */
  private readonly binary = new WeakSet<RecordedEvent>();
  private readonly hooks: AppendHook<MemoryAppendTransaction>[] = [];
  private readonly watchers = new Set<() => void>();
  private readonly subscriptions = new SubscriptionSet();
  private readonly mutex = new Mutex();
  private readonly pageSize: number;
  private closed = false;
  private readonly obs: Instrumentation;

  constructor(options: MemoryEventLogOptions = {}) {
    this.pageSize = options.pageSize ?? 256;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw new ValidationError(`pageSize must be an integer >= 1, got ${shown(options.pageSize)}`);
    this.obs = observeLog(this, { target: 'memory' }, options);
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** Always reachable while open; `ok: false` with ClosedError after close(). Never throws. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /** Append events to one stream; see the class comment for duplicate ids. */
  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  async append(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const [result] = await this.appendMany([{ stream, events, expectedRevision: options.expectedRevision }]);
    return result!;
  }

  /**
   * Append to several streams atomically: every expectation is checked (in order, so a stream may
   * appear twice) before anything is stored, and hooks see all the events in one call.
   */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.store(appends, undefined);
  }

  /**
   * Import events recorded elsewhere (a migration, a restore), atomically: appended in the given
   * order with their own ids, revisions (each must follow its stream's head), metadata and times.
   */
  async importEvents(events: readonly Omit<RecordedEvent, 'position'>[]): Promise<void> {
    const runs: Omit<RecordedEvent, 'position'>[][] = [];
    for (const e of events) {
      if (!(e.time instanceof Date) || Number.isNaN(e.time.getTime())) throw new ValidationError(`importEvents: event ${String(e.id)} has no valid time`);
      const last = runs[runs.length - 1];
      if (last && last[0]!.stream === e.stream) last.push(e);
      else runs.push([e]);
    }
    if (runs.length === 0) return;
    const appends = runs.map((run) => ({ stream: run[0]!.stream, events: run.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })), expectedRevision: run[0]!.revision - 1 }));
    await this.store(appends, runs.map((run) => run.map((e) => prepare(new Date(e.time.getTime())).value)));
  }

  /** appendMany's work; `times` (per append, per event) replaces "now" for imports. */
  private async store(appends: readonly StreamAppend[], times: Date[][] | undefined): Promise<AppendResult[]> {
    this.assertOpen();
    if (!Array.isArray(appends) || appends.length === 0) throw new ValidationError('appendMany needs at least one stream append');
    // validate and encode outside the lock: bad input fails before it can delay other writers
    const checked = appends.map((a) => ({
      stream: validateName(a.stream, 'stream'),
      events: validateEvents(a.events),
      expected: validateExpected(a.expectedRevision),
    }));
    const prepared = prepareAppends(checked);
    return this.mutex.run(async () => {
      this.assertOpen();
      const revisions = new Map<string, number>();
      const pending = new Map<string, RecordedEvent>();
      const plan: PlannedAppend[] = [];
      const results: AppendResult[] = [];
      const time = prepare(new Date(nowMs())).value;
      let position = this.all.length;
      for (const [ai, a] of prepared.entries()) {
        const lookup = (id: string) => this.ids.get(id) ?? pending.get(id);
        const retry = resolveEventIds(a.stream, a.events, lookup);
        if (retry) {
          results.push(retry);
          continue;
        }
        const current = revisions.get(a.stream) ?? this.streams.get(a.stream)?.length ?? 0;
        checkExpected(a.stream, a.expected, current);
        const recorded = a.events.map((e, i) => {
          const r: RecordedEvent = Object.freeze({
            id: e.id ?? newId(),
            stream: a.stream,
            revision: current + i + 1,
            position: ++position,
            type: e.type,
            data: e.data,
            metadata: e.metadata,
            time: times ? times[ai]![i]! : time,
          });
          pending.set(r.id, r);
          return r;
        });
        revisions.set(a.stream, current + recorded.length);
        plan.push({ recorded, binary: a.binary });
        const lastEvent = recorded[recorded.length - 1]!;
        results.push({ revision: lastEvent.revision, position: lastEvent.position });
      }
      if (plan.length === 0) return results;
      const events = plan.flatMap((p) => p.recorded);
      const commit = await runHooks(this.hooks, events);
      for (const p of plan) {
        for (const r of p.recorded) {
          let s = this.streams.get(r.stream);
          if (!s) this.streams.set(r.stream, (s = []));
          s.push(r);
          this.all.push(r);
          this.ids.set(r.id, r);
          if (p.binary) this.binary.add(r);
        }
      }
      commit();
      for (const w of this.watchers) w();
      return results;
    });
  }

  /**
   * Erasure (StreamEraser, for the Store's purge): redact the events of `stream` with revision <
   * `beforeRevision` (type becomes `dgent.erased`, data and metadata dropped; revisions, positions
   * and ids stay). Resolves to how many were redacted now.
   */
  async eraseStream(stream: string, beforeRevision: number): Promise<number> {
    this.assertOpen();
    const { stream: name, before } = validateErase(stream, beforeRevision);
    return this.mutex.run(async () => {
      const s = this.streams.get(name) ?? [];
      let n = 0;
      for (let i = 0; i < Math.min(before - 1, s.length); i++) {
        const e = s[i]!;
        if (e.type === ERASED_EVENT_TYPE) continue;
        const erased: RecordedEvent = Object.freeze({ ...e, type: ERASED_EVENT_TYPE, data: null, metadata: Object.freeze({}) });
        s[i] = erased;
        this.all[e.position - 1] = erased;
        this.ids.set(e.id, erased);
        this.binary.delete(e);
        n++;
      }
      return n;
    });
  }

  /** Read one stream; a stream that does not exist reads as empty. */
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  async *read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    validateName(stream, 'stream');
    const w = validateReadOptions(options);
    const s = this.streams.get(stream);
    if (!s) return;
    const head = s.length; // events appended while the caller iterates are not part of this read
    let n = 0;
    if (w.direction === 'forward') {
      for (let r = w.from; r <= Math.min(w.to, head) && n < w.limit; r++, n++) yield this.out(s[r - 1]!);
    } else {
      for (let r = Math.min(w.from, head); r >= w.to && n < w.limit; r--, n++) yield this.out(s[r - 1]!);
    }
  }

  /** Read every stream in position order, after `fromPosition`. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  async *readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const w = validateReadAllOptions(options);
    yield* this.scan(w.fromPosition, w.limit, w.types, undefined);
  }

  /** Catch up from `fromPosition` (exclusive), then deliver live events. */
  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    if (typeof handler !== 'function') throw new ValidationError('subscribe needs a handler function');
    const sub = catchUpSubscription(
      {
        readAll: (o) => this.scan(o.fromPosition, o.limit, undefined, o.stream),
        watch: (wake) => {
          this.watchers.add(wake);
          return () => this.watchers.delete(wake);
        },
      },
      { ...options, pageSize: this.pageSize },
      handler,
    );
    return this.subscriptions.track(sub);
  }

  /** Current revision of a stream (0 when it does not exist). */
  async revision(stream: string): Promise<number> {
    this.assertOpen();
    validateName(stream, 'stream');
    return this.streams.get(stream)?.length ?? 0;
  }

  /**
   * Register a hook that runs inside every later append, before its events become visible; a throw
   * aborts the append. Hooks run one append at a time (appends wait for them), so a hook must not
   * append to this log itself: that would wait for its own append. Returns the function that
   * removes the hook.
   */
  onAppend(hook: AppendHook<MemoryAppendTransaction>): () => void {
    this.assertOpen();
    return addAppendHook(this.hooks, hook);
  }

  /** Close the log and its subscriptions; later calls throw ClosedError. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.closeAll();
    // wait for an append already holding the lock, so close() means "nothing is still writing"
    await this.mutex.run(async () => undefined);
  }

  private *scan(after: number, limit: number, types: ReadonlySet<string> | undefined, stream: string | undefined): Iterable<RecordedEvent> {
    const end = this.all.length;
    let n = 0;
    for (let i = after; i < end && n < limit; i++) {
      const e = this.all[i]!;
      if ((types && !types.has(e.type)) || (stream !== undefined && e.stream !== stream)) continue;
      n++;
      yield this.out(e);
    }
  }

  private out(e: RecordedEvent): RecordedEvent {
    if (!this.binary.has(e)) return e;
    return Object.freeze({ ...e, data: prepare(e.data).value, metadata: prepare(e.metadata).value });
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('MemoryEventLog');
  }
}
