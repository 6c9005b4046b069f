/**
 * FileEventLog: a durable EventLog in a directory of append-only segment files.
 *
 * - Each append (or `appendMany`) is one checksummed frame; an append resolves only after its
 *   frame is fsynced. Appends arriving while a write is in flight are group-committed: one write
 *   and one fsync for all of them, each checked in order against the state before it.
 * - The stream index lives in memory; `stream-index.json` caches it between runs and is checked
 *   against the segments on open (rebuilt by scanning when missing or stale).
 * - On open, a torn tail left by a crash is cut and reported ({@link FileEventLog.recovery},
 *   `onRecovery`); damage to acknowledged data raises {@link CorruptionError} and nothing is cut.
 * - One writer per directory, guarded by a lock file: a second writer gets {@link LockedError}
 *   (or waits, `lock: 'wait'`). `readOnly: true` opens a snapshot without the lock.
 *
 * @example
 * ```ts
 * const log = new FileEventLog({ dir: './data/events' });
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * for await (const e of log.read('chat-1')) console.log(e.revision, e.data);
 * await log.close();
 * ```
 */
import { ClosedError, ValidationError, shown } from '../../core/errors.js';
import type {
  AppendOptions,
  AppendResult,
  EventLog,
  EventLogCapabilities,
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
import { validateName, validateReadAllOptions, validateReadOptions } from '../validate.js';
import { prepareRequest } from './append-plan.js';
import { LogCore } from './log-core.js';
import type { OpenState } from './log-core.js';
import type { RecoveryReport } from './recovery.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

export type { RecoveryReport } from './recovery.js';

/** Options of {@link FileEventLog}. */
export interface FileEventLogOptions extends ObservabilityOptions {
  /** the log's directory (created when missing, unless `readOnly`) */
  dir: string;
  /** start a new segment file once the active one reaches this many bytes (default 64 MiB) */
  segmentSize?: number | undefined;
  /** when another process holds the writer lock: throw LockedError at once ('fail', default) or wait up to `lockTimeoutMs` */
  lock?: 'fail' | 'wait' | undefined;
  /** how long `lock: 'wait'` waits before LockedError (default 10 000 ms) */
  lockTimeoutMs?: number | undefined;
  /** open without the writer lock, reading the log as it was when opened; appends throw ValidationError */
  readOnly?: boolean | undefined;
  /** bytes of decoded commits kept in memory for reads (default 32 MiB) */
  cacheBytes?: number | undefined;
  /** largest encoded append accepted, in bytes (default 64 MiB); larger ones throw StateTooLargeError */
  maxAppendBytes?: number | undefined;
  /** called once on open with what recovery did */
  onRecovery?: ((report: RecoveryReport) => void) | undefined;
  /** events per page when subscriptions read (default 256) */
  pageSize?: number | undefined;
}

/** A durable, single-writer EventLog in a directory. See the module comment. */
export class FileEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, MultiStreamAppender {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: true, supportsInlineProjections: false, durable: true });
  /** the log's directory */
  readonly dir: string;
  private readonly options: Required<Omit<FileEventLogOptions, 'onRecovery' | keyof ObservabilityOptions>> & Pick<FileEventLogOptions, 'onRecovery'>;
  private readonly core: LogCore;
  private opened: Promise<OpenState> | undefined;
  private report: RecoveryReport | undefined;
  private closed = false;
  private readonly subscriptions = new SubscriptionSet();

  private readonly obs: Instrumentation;

  constructor(options: FileEventLogOptions) {
    this.obs = observeLog(this, { target: 'file' }, options);
    if (typeof options?.dir !== 'string' || options.dir.length === 0) throw new ValidationError('FileEventLog needs a dir');
    const o = {
      dir: options.dir,
      segmentSize: options.segmentSize ?? 64 * 1024 * 1024,
      lock: options.lock ?? 'fail',
      lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
      readOnly: options.readOnly ?? false,
      cacheBytes: options.cacheBytes ?? 32 * 1024 * 1024,
      maxAppendBytes: options.maxAppendBytes ?? 64 * 1024 * 1024,
      pageSize: options.pageSize ?? 256,
      onRecovery: options.onRecovery,
    };
    for (const k of ['segmentSize', 'lockTimeoutMs', 'cacheBytes', 'maxAppendBytes', 'pageSize'] as const) {
      if (!Number.isSafeInteger(o[k]) || o[k] < (k === 'lockTimeoutMs' ? 0 : 1)) throw new ValidationError(`${k} must be a positive integer, got ${shown(o[k])}`);
    }
    if (o.lock !== 'fail' && o.lock !== 'wait') throw new ValidationError(`lock must be 'fail' or 'wait', got ${shown(o.lock)}`);
    this.options = o;
    this.dir = o.dir;
    this.core = LogCore.acquire(o);
  }

  /** Open now (every method opens on first use): surfaces LockedError and CorruptionError early. */
  async open(): Promise<this> {
    await this.ready();
    return this;
  }

  /** What recovery did when the log was opened; undefined before it is open. */
  get recovery(): RecoveryReport | undefined {
    return this.report;
  }

  /** Append events to one stream; resolves once they are on disk (fsynced). */
  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  async append(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const [result] = await this.appendMany([{ stream, events, expectedRevision: options.expectedRevision }]);
    return result!;
  }

  /** Append to several streams atomically (one frame: all of it survives a crash or none). */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.assertOpen();
    if (this.options.readOnly) throw new ValidationError(`FileEventLog ${this.dir} was opened readOnly`);
    if (!Array.isArray(appends) || appends.length === 0) throw new ValidationError('appendMany needs at least one stream append');
    const request = prepareRequest(appends, this.options.maxAppendBytes);
    await this.ready();
    return this.core.submit(request);
  }

  /**
   * Import events recorded elsewhere (a migration, a restore): appended in the given order with
   * their own ids, revisions (each must follow its stream's head), metadata and times. Events of
   * one stream with the same time become one frame; the frames of a call share one fsync.
   */
  async importEvents(events: readonly Omit<RecordedEvent, 'position'>[]): Promise<void> {
    this.assertOpen();
    if (this.options.readOnly) throw new ValidationError(`FileEventLog ${this.dir} was opened readOnly`);
    const runs: Omit<RecordedEvent, 'position'>[][] = [];
    for (const e of events) {
      const last = runs[runs.length - 1]?.[0];
      if (last && last.stream === e.stream && last.time.getTime() === e.time.getTime()) runs[runs.length - 1]!.push(e);
      else runs.push([e]);
    }
    const requests = runs.map((run) => {
      const request = prepareRequest([{ stream: run[0]!.stream, events: run.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })), expectedRevision: run[0]!.revision - 1 }], this.options.maxAppendBytes);
      request.time = run[0]!.time.getTime();
      return request;
    });
    await this.ready();
    await Promise.all(requests.map((r) => this.core.submit(r)));
  }

  /** Read one stream; a stream that does not exist reads as empty. */
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  async *read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    validateName(stream, 'stream');
    const w = validateReadOptions(options);
    const { index, reader } = await this.ready();
    const positions = index.positions(stream);
    const head = positions.length; // events appended while the caller iterates are not part of this read
    const step = w.direction === 'forward' ? 1 : -1;
    const end = w.direction === 'forward' ? Math.min(w.to, head) : w.to;
    let n = 0;
    for (let r = w.direction === 'forward' ? w.from : Math.min(w.from, head); step > 0 ? r <= end : r >= end; r += step) {
      if (n++ >= w.limit) return;
      this.assertOpen();
      const p = positions[r - 1]!;
      const fi = index.frameIndex(p)!;
      const events = await reader.events(fi, false);
      yield events[p - index.frames[fi]!.first]!;
    }
  }

  /** Read every stream in position order, after `fromPosition`. */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  async *readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const w = validateReadAllOptions(options);
    const state = await this.ready();
    yield* this.scan(state, w.fromPosition, w.limit, w.types, undefined);
  }

  /** Catch up from `fromPosition` (exclusive), then deliver live events, in order, exactly once. */
  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    if (typeof handler !== 'function') throw new ValidationError('subscribe needs a handler function');
    const sub = catchUpSubscription(
      {
        readAll: (o) => this.page(o.fromPosition, o.limit, o.stream),
        watch: (wake) => this.core.watch(wake),
      },
      { ...options, pageSize: this.options.pageSize },
      handler,
    );
    return this.subscriptions.track(sub);
  }

  /** Current revision of a stream (0 when it does not exist). */
  async revision(stream: string): Promise<number> {
    this.assertOpen();
    validateName(stream, 'stream');
    return (await this.ready()).index.revision(stream);
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** Reads a stream's revision from the open log (ClosedError after close()). Never throws: `{ ok: false, error }` when it cannot. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /** Finish pending appends, stop subscriptions, save the index file, release the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.closeAll();
    await this.core.release();
  }

  private async *page(after: number, limit: number, stream: string | undefined): AsyncIterable<RecordedEvent> {
    const state = await this.ready();
    if (stream === undefined) {
      yield* this.scan(state, after, limit, undefined, undefined);
      return;
    }
    // a stream's positions ascend: skip straight to those after `after`
    const positions = state.index.positions(stream);
    let lo = 0;
    let hi = positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (positions[mid]! <= after) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo, n = 0; i < positions.length && n < limit; i++, n++) {
      const p = positions[i]!;
      const fi = state.index.frameIndex(p)!;
      yield (await state.reader.events(fi, false))[p - state.index.frames[fi]!.first]!;
    }
  }

  private async *scan(state: OpenState, after: number, limit: number, types: ReadonlySet<string> | undefined, stream: string | undefined): AsyncIterable<RecordedEvent> {
    const { index, reader } = state;
    const end = index.head; // a snapshot: appends made while iterating are not part of this read
    let p = after + 1;
    let n = 0;
    while (p <= end && n < limit) {
      this.assertOpen();
      const fi = index.frameIndex(p)!;
      const chunks = types ? await reader.eventsOfTypes(fi, types) : [{ fi, events: await reader.events(fi, true) }];
      for (const c of chunks) {
        for (const e of c.events) {
          if (e.position < p || e.position > end || (stream !== undefined && e.stream !== stream)) continue;
          if (n++ >= limit) return;
          yield e;
        }
        const f = index.frames[c.fi]!;
        p = Math.max(p, f.first + f.count);
      }
    }
  }

  private ready(): Promise<OpenState> {
    this.assertOpen();
    this.opened ??= this.core.ready().then((state) => {
      this.report = state.report;
      this.options.onRecovery?.(state.report);
      return state;
    });
    // a failed open is not remembered: the next call tries again (e.g. once the lock is free)
    this.opened.catch(() => (this.opened = undefined));
    return this.opened;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError(`FileEventLog ${this.dir}`);
  }
}
