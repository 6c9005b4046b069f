/**
 * SqliteEventLog: a durable EventLog in one SQLite file (better-sqlite3, WAL).
 *
 * - Group commit: appends arriving together share one transaction; each keeps its own
 *   ExpectedRevision check and fails alone (see append.ts).
 * - Several processes may append to the same file: every append takes the write lock with
 *   BEGIN IMMEDIATE and re-reads the revision under it. A busy file is waited for (with backoff, up
 *   to `busyTimeoutMs`), never reported as a raw SQLITE_BUSY.
 * - Readers use a second connection and see committed data only; subscriptions wake on commits
 *   made in this process and poll `max(position)` to see other processes' appends.
 * - `onAppend` hooks run inside the append's transaction, with the connection, for inline projections.
 *
 * @example
 * ```ts
 * const log = new SqliteEventLog({ path: './data/events.db' });
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * for await (const e of log.read('chat-1')) console.log(e.revision, e.data);
 * await log.close();
 * ```
 */
import { resolve } from 'node:path';
import { ClosedError, ValidationError, shown } from '../../core/errors.js';
import type {
  AppendHook,
  AppendOptions,
  AppendResult,
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
import { addAppendHook } from '../append-hooks.js';
import { validateName, validateReadAllOptions, validateReadOptions } from '../validate.js';
import { AppendWriter } from './append.js';
import { encodeAppend, type EncodedAppend } from './encode.js';
import { openConnection, withBusyRetry, type SqliteDatabase } from './connection.js';
import type { SqliteAppendTransaction } from './hooks.js';
import { readPositions, readStream, type PageRunner } from './read.js';
import { ensureSchema, EVENTS_TABLE } from './schema.js';
import { ERASED_EVENT_TYPE, validateErase } from '../erase.js';
import { prepareReader, prepareWriter, type ReaderStatements } from './statements.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

export type { SqliteAppendTransaction } from './hooks.js';

/** Options of {@link SqliteEventLog}. */
export interface SqliteEventLogOptions extends ObservabilityOptions {
  /** the database file (created with its directory when missing) */
  path: string;
  /** `'NORMAL'` (default): an acknowledged append survives a process crash; `'FULL'`: also power loss (an fsync per commit) */
  synchronous?: 'NORMAL' | 'FULL' | undefined;
  /** how long to wait for a file locked by another connection before BackendUnavailableError (default 5000) */
  busyTimeoutMs?: number | undefined;
  /** how often live subscriptions look for appends made by other processes (default 100 ms) */
  pollIntervalMs?: number | undefined;
  /** events fetched per query by reads and subscriptions (default 512) */
  pageSize?: number | undefined;
}

interface Open {
  writer: SqliteDatabase;
  reader: SqliteDatabase;
  rs: ReaderStatements;
  appends: AppendWriter;
}

/** Wake functions of live subscriptions, per file, so a commit wakes every instance of this process. */
const localWatchers = new Map<string, Set<() => void>>();

function positiveInt(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ValidationError(`${what} must be an integer >= 1, got ${shown(v)}`);
  return v;
}

/** Durable event log in a SQLite file; see the module comment. */
export class SqliteEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, MultiStreamAppender, InlineProjectionHost<SqliteAppendTransaction> {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: true, supportsInlineProjections: true, durable: true });
  /** absolute path of the database file */
  readonly path: string;
  private readonly synchronous: 'NORMAL' | 'FULL';
  private readonly busyTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly pageSize: number;
  private readonly hooks: AppendHook<SqliteAppendTransaction>[] = [];
  private readonly subscriptions = new SubscriptionSet();
  private readonly watchers = new Set<() => void>();
  private opened: Open | undefined;
  private opening: Promise<Open> | undefined;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  /** set once the connections are closing; reads still running then (subscriptions are already stopped) fail with ClosedError */
  private disconnected = false;
  private readonly run: PageRunner = (fn) => {
    if (this.disconnected) return Promise.reject(new ClosedError('SqliteEventLog'));
    return withBusyRetry(fn, this.busyTimeoutMs, this.path);
  };

  private readonly obs: Instrumentation;

  /** Checks the options only; the file is opened (and the schema created) by the first operation. */
  constructor(options: SqliteEventLogOptions) {
    this.obs = observeLog(this, { target: 'sqlite', system: 'sqlite' }, options);
    const o = options ?? ({} as SqliteEventLogOptions);
    if (typeof o.path !== 'string' || o.path.length === 0 || o.path === ':memory:' || o.path.includes('\0')) {
      throw new ValidationError('SqliteEventLog needs `path`, a file name (use MemoryEventLog for an in-memory log)');
    }
    this.path = resolve(o.path);
    this.synchronous = o.synchronous ?? 'NORMAL';
    if (this.synchronous !== 'NORMAL' && this.synchronous !== 'FULL') throw new ValidationError(`synchronous must be 'NORMAL' or 'FULL', got ${shown(o.synchronous)}`);
    this.busyTimeoutMs = o.busyTimeoutMs === 0 ? 0 : positiveInt(o.busyTimeoutMs, 'busyTimeoutMs', 5000);
    this.pollIntervalMs = positiveInt(o.pollIntervalMs, 'pollIntervalMs', 100);
    this.pageSize = positiveInt(o.pageSize, 'pageSize', 512);
  }

  /** Append events to one stream. Ids repeat only as an idempotent retry of a stored batch (see validate.ts). */
  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  append(stream: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult> {
    let part: EncodedAppend;
    try {
      this.assertOpen();
      part = encodeAppend(stream, events, options?.expectedRevision);
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.opened) return this.opened.appends.submitOne(part);
    return this.open().then((o) => o.appends.submitOne(part));
  }

  /**
   * Erasure (StreamEraser, for the Store's purge): redact the events of `stream` with revision <
   * `beforeRevision` (type becomes `dgent.erased`, data and metadata dropped; revisions and
   * positions stay). Runs between append groups, in its own transaction; resolves to the count.
   */
  async eraseStream(stream: string, beforeRevision: number): Promise<number> {
    this.assertOpen();
    const { stream: s, before } = validateErase(stream, beforeRevision);
    const o = await this.open();
    for (;;) {
      await o.appends.idle();
      if (!o.writer.inTransaction) break;
    }
    const sql = `UPDATE ${EVENTS_TABLE} SET type = ?, data = 'null', metadata = NULL WHERE stream = ? AND revision < ? AND type <> ?`;
    return this.run(() => o.writer.prepare(sql).run(ERASED_EVENT_TYPE, s, before, ERASED_EVENT_TYPE).changes);
  }

  /** Append to several streams in one transaction: every part is stored, or none. */
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    let parts: EncodedAppend[];
    try {
      this.assertOpen();
      if (!Array.isArray(appends) || appends.length === 0) throw new ValidationError('appendMany needs at least one stream append');
      parts = appends.map((a) => encodeAppend(a.stream, a.events, a.expectedRevision));
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.opened) return this.opened.appends.submitMany(parts);
    return this.open().then((o) => o.appends.submitMany(parts));
  }

  /** Read one stream; a stream that does not exist reads as empty. */
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    // checks run when iteration starts, so a bad argument rejects the loop instead of throwing here
    return this.lazily(() => {
      validateName(stream, 'stream');
      const w = validateReadOptions(options);
      return (rs) => readStream(rs, this.run, stream, w, this.pageSize, this.path);
    });
  }

  /** Read every stream in position order, after `fromPosition` (exclusive). */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    return this.lazily(() => {
      const w = validateReadAllOptions(options);
      return (rs) => readPositions(rs, this.run, w.fromPosition, w.limit, this.pageSize, this.path, w.types && { types: w.types });
    });
  }

  /** Catch up from `fromPosition` (exclusive), then deliver live events, including other processes' appends. */
  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    if (typeof handler !== 'function') throw new ValidationError('subscribe needs a handler function');
    const self = this;
    const sub = catchUpSubscription(
      {
        async *readAll(o) {
          const { rs } = await self.open();
          yield* readPositions(rs, self.run, o.fromPosition, o.limit, self.pageSize, self.path, o.stream === undefined ? undefined : { stream: o.stream });
        },
        watch: (wake) => this.watch(wake),
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
    const { rs } = await this.open();
    return this.run(() => rs.head.get(stream) ?? 0);
  }

  /**
   * Register a hook that runs inside every later append's transaction, after the events got their
   * revisions and positions; `tx.db` writes commit with them, and a throw aborts the append.
   * Returns the function that removes the hook.
   */
  onAppend(hook: AppendHook<SqliteAppendTransaction>): () => void {
    this.assertOpen();
    return addAppendHook(this.hooks, hook);
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** Reads a stream's revision (one indexed SELECT). Never throws: `{ ok: false, error }` when it cannot. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /** Finish queued appends, stop subscriptions and close the file; later calls throw ClosedError. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.closeAll();
    const o = this.opened ?? (await this.opening?.catch(() => undefined));
    if (!o) return;
    await o.appends.idle();
    this.disconnected = true;
    clearInterval(this.poller);
    o.reader.close();
    o.writer.close();
  }

  /**
   * An AsyncIterable that checks (`prepare`) when iteration starts and then hands out the reader's
   * generator directly: one async generator per read, not one wrapped in another.
   */
  private lazily(prepare: () => (rs: ReaderStatements) => AsyncIterator<RecordedEvent>): AsyncIterable<RecordedEvent> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<RecordedEvent> => {
        let inner: AsyncIterator<RecordedEvent> | undefined;
        let failed: unknown;
        try {
          this.assertOpen();
          const start = prepare();
          const opened = this.open().then((o) => (inner = start(o.rs)));
          return {
            next: () => (inner ? inner.next() : opened.then((i) => i.next())),
            return: (value?: unknown) => (inner?.return ? inner.return(value) : Promise.resolve({ done: true, value: undefined })),
          };
        } catch (e) {
          failed = e;
        }
        return { next: () => Promise.reject(failed) };
      },
    };
  }

  private open(): Promise<Open> {
    if (this.opened) return Promise.resolve(this.opened);
    this.opening ??= this.connect().then(
      (o) => (this.opened = o),
      (e: unknown) => {
        this.opening = undefined; // a later call tries again (the file may have been locked, or fixed)
        throw e;
      },
    );
    return this.opening;
  }

  private async connect(): Promise<Open> {
    const settings = { path: this.path, synchronous: this.synchronous, busyTimeoutMs: this.busyTimeoutMs };
    const writer = await openConnection(settings, 'writer');
    let reader: SqliteDatabase | undefined;
    try {
      await withBusyRetry(() => ensureSchema(writer, this.path), this.busyTimeoutMs, this.path);
      reader = await openConnection(settings, 'reader');
      const appends = new AppendWriter({
        db: writer,
        statements: prepareWriter(writer),
        hooks: this.hooks,
        path: this.path,
        busyTimeoutMs: this.busyTimeoutMs,
        committed: () => {
          for (const wake of localWatchers.get(this.path) ?? []) wake();
        },
      });
      return { writer, reader, rs: prepareReader(reader), appends };
    } catch (e) {
      reader?.close();
      writer.close();
      throw e;
    }
  }

  /** Register a subscription's wake function; polls for other processes' commits while any is registered. */
  private watch(wake: () => void): () => void {
    let local = localWatchers.get(this.path);
    if (!local) localWatchers.set(this.path, (local = new Set()));
    local.add(wake);
    this.watchers.add(wake);
    if (!this.poller) {
      let seen = -1;
      this.poller = setInterval(() => {
        const o = this.opened;
        if (!o || this.closed) return;
        let max: number;
        try {
          max = o.rs.maxPosition.get() ?? 0;
        } catch {
          max = Number.NaN; // busy or failing: let the subscriptions read and meet (or retry) the error themselves
        }
        if (max !== seen) for (const w of this.watchers) w();
        seen = max;
      }, this.pollIntervalMs); // not unref'd: a live subscription keeps the process running, as a socket would
    }
    return () => {
      local.delete(wake);
      if (local.size === 0) localWatchers.delete(this.path);
      this.watchers.delete(wake);
      if (this.watchers.size === 0) {
        clearInterval(this.poller);
        this.poller = undefined;
      }
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('SqliteEventLog');
  }
}
