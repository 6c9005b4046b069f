/**
 * PostgresEventLog: the EventLog on PostgreSQL (pg driver), for several processes sharing one log.
 *
 * - One round trip per append (one INSERT statement, or a PL/pgSQL function), group commit of
 *   concurrent appends.
 * - Every ExpectedRevision form enforced; conflicts report the actual revision.
 * - Gap-safe readers: readAll/subscribe never deliver an event while an earlier position can still
 *   commit (transaction id vs snapshot xmin). A transaction that stays open anywhere in the
 *   database cluster therefore holds readers back until it ends (readAll waits up to
 *   `horizonWaitMs`, then throws BackendUnavailableError).
 * - Subscriptions wake on LISTEN/NOTIFY and poll as a fallback. At most one append per
 *   `notifyIntervalMs` carries the NOTIFY (a NOTIFY in every append would serialise the commits of
 *   every appending connection: see Notifier); this process's own subscriptions are woken directly.
 * - Tables are created on first use (idempotent, safe across processes) in `schema` (default `dgent`).
 *
 * @example
 * ```ts
 * import { PostgresEventLog } from 'dgent/postgres';
 * const log = new PostgresEventLog({ connectionString: process.env.DATABASE_URL, schema: 'agents' });
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * for await (const e of log.readAll()) console.log(e.position, e.stream, e.type);
 * await log.close();
 * ```
 */
import { pg } from './pg.js';
import { BackendUnavailableError, ClosedError, ValidationError } from '../../core/errors.js';
import { sleep } from '../../core/mutex.js';
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
import { nonNegativeMs, validateEvents, validateExpected, validateName, validateReadAllOptions, validateReadOptions } from '../validate.js';
import { ERASED_EVENT_TYPE, validateErase } from '../erase.js';
import { AppendQueue, prepareStreamAppend, type PostgresAppendTransaction } from './append.js';
import { mapPgError, type Queryable } from './errors.js';
import { Listener, Notifier, type ListenClient } from './listener.js';
import { readPage, readStatements, readStreamPage, type ReadStatements } from './read.js';
import { ensureSchema, schemaNames, validateSchemaName, type SchemaNames } from './schema.js';
import { createOwnedPool, resolvePoolOptions, type PoolClass } from './pool.js';
import type { QueryWatchdog } from './watchdog.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

/** The slice of a pg Pool the log uses: pass your own `pg.Pool` (its settings are kept as they are). */
export interface PostgresPool extends Queryable {
  connect(): Promise<ListenClient>;
  end(): Promise<void>;
  on(event: 'error', fn: (e: Error) => void): unknown;
}

/** Options of {@link PostgresEventLog}: either `pool` or `connectionString`. */
export interface PostgresEventLogOptions extends ObservabilityOptions {
  /** an existing pool (not closed by `close()`) */
  pool?: PostgresPool | undefined;
  /** e.g. `postgres://user@host:5432/db`; the log owns the pool it creates */
  connectionString?: string | undefined;
  /** schema holding the log's tables (default `dgent`); lower-case identifier, validated */
  schema?: string | undefined;
  /** pool size when the log creates the pool (default 10) */
  maxConnections?: number | undefined;
  /** connect timeout of a created pool, ms (default 10 000); it also bounds the wait for a free connection of the pool */
  connectTimeoutMs?: number | undefined;
  /**
   * server statement timeout of a created pool, ms (default 30 000); a statement without a reply
   * for this + 5 s (a server that stopped answering) fails with BackendUnavailableError and its
   * connection is replaced (see QueryWatchdog). A pool passed in keeps its own settings.
   */
  statementTimeoutMs?: number | undefined;
  /** how long readAll waits for an older open transaction to end before it throws (default 30 000) */
  horizonWaitMs?: number | undefined;
  /** subscription poll interval, the fallback when a notification is missed (default 1 000) */
  pollMs?: number | undefined;
  /**
   * how long a subscription keeps retrying reads that fail with BackendUnavailableError (a server
   * restart, a dropped connection), backing off up to 1 s, before `done` rejects with it (default
   * 30 000; 0: the first failure ends it). It resumes after the last delivered event.
   */
  subscriptionRetryMs?: number | undefined;
  /**
   * NOTIFY throttle (default 20): the first commit after a quiet spell wakes other processes'
   * subscribers at once, the commits of the next `notifyIntervalMs` share one NOTIFY at its end
   * (see Notifier); this process's own subscriptions are woken at every commit, without a NOTIFY
   */
  notifyIntervalMs?: number | undefined;
  /** append batches in flight at once (default 4) */
  maxBatchesInFlight?: number | undefined;
  /** stream appends per group-commit batch at most (default 256) */
  maxBatchSize?: number | undefined;
  /** events per read page (default 1000) */
  pageSize?: number | undefined;
}

/** PostgreSQL-backed event log; see the file comment. */
export class PostgresEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, MultiStreamAppender, InlineProjectionHost<PostgresAppendTransaction> {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: true, supportsInlineProjections: true, durable: true });
  /** the validated schema name */
  readonly schema: string;
  private readonly pool: PostgresPool;
  private readonly ownsPool: boolean;
  /** the read timeout of a pool the log created (see QueryWatchdog); none for a pool passed in */
  private readonly watchdog: QueryWatchdog | undefined;
  private readonly names: SchemaNames;
  private readonly st: ReadStatements;
  private readonly hooks: AppendHook<PostgresAppendTransaction>[] = [];
  private readonly queue: AppendQueue;
  private readonly listener: Listener;
  private readonly notifier: Notifier;
  private readonly subscriptions = new SubscriptionSet();
  private readonly horizonWaitMs: number;
  private readonly pollMs: number;
  private readonly subscriptionRetryMs: number;
  private readonly pageSize: number;
  private ready: Promise<void> | undefined;
  /** the schema is known to exist: appends skip the await on `ready` (one turn of the microtask queue) */
  private initialised = false;
  private closed = false;

  private readonly obs: Instrumentation;

  constructor(options: PostgresEventLogOptions) {
    this.obs = observeLog(this, { target: 'postgres', system: 'postgresql', remote: true }, options);
    this.schema = validateSchemaName(options.schema ?? 'dgent');
    if (!options.pool === !options.connectionString) throw new ValidationError('PostgresEventLog needs exactly one of { pool, connectionString }');
    const notifyIntervalMs = nonNegativeMs(options.notifyIntervalMs, 'notifyIntervalMs', 20);
    const subscriptionRetryMs = nonNegativeMs(options.subscriptionRetryMs, 'subscriptionRetryMs', 30_000);
    const poolOptions = resolvePoolOptions(options); // checked even with a pool of yours, which keeps its own settings
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      const { pool, watchdog } = createOwnedPool(pg.Pool as unknown as PoolClass<PostgresPool>, options.connectionString!, poolOptions, 'PostgresEventLog');
      this.pool = pool;
      this.ownsPool = true;
      this.watchdog = watchdog;
    }
    this.names = schemaNames(this.schema);
    this.st = readStatements(this.names);
    this.horizonWaitMs = options.horizonWaitMs ?? 30_000;
    this.pollMs = options.pollMs ?? 1_000;
    this.subscriptionRetryMs = subscriptionRetryMs;
    this.pageSize = options.pageSize ?? 1000;
    this.queue = new AppendQueue(
      {
        names: this.names,
        pool: this.pool,
        hooks: this.hooks,
        withClient: (fn) => this.withClient(fn),
        notify: {
          carry: () => this.notifier.carry(),
          committed: (stored, carriedAt) => {
            if (stored) this.listener.wakeAll(); // this process's subscriptions need no NOTIFY
            this.notifier.committed(stored, carriedAt);
          },
        },
      },
      options.maxBatchesInFlight ?? 4,
      options.maxBatchSize ?? 256,
    );
    this.listener = new Listener(async () => {
      const client = await this.pool.connect();
      return this.watchdog ? this.watchdog.hold(client) : client;
    }, this.names.channel);
    this.notifier = new Notifier(this.pool, this.names.channel, notifyIntervalMs);
  }

  /** Append events to one stream (one round trip, shared with concurrent appends). */
  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  async append(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen();
    const a = prepareStreamAppend(validateName(stream, 'stream'), validateEvents(events), validateExpected(options.expectedRevision));
    if (a.explicit !== 0) checkIds(a.input);
    if (!this.initialised) {
      await this.init();
      this.assertOpen(); // closed while the schema was being created: nothing was sent
    }
    return this.queue.one(a);
  }

  /** Append to several streams in one transaction: all or nothing; expectations are checked in order. */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.assertOpen();
    if (!Array.isArray(appends) || appends.length === 0) throw new ValidationError('appendMany needs at least one stream append');
    const prepared = appends.map((a) => prepareStreamAppend(validateName(a.stream, 'stream'), validateEvents(a.events), validateExpected(a.expectedRevision)));
    checkIds(prepared.flatMap((a) => a.input));
    await this.init();
    this.assertOpen(); // closed while the schema was being created: nothing was sent
    return this.queue.submit(prepared, true);
  }

  /** Read one stream; a stream that does not exist reads as empty. */
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  async *read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    validateName(stream, 'stream');
    const w = validateReadOptions(options);
    await this.init();
    let from = w.from;
    let left = w.limit;
    while (left > 0) {
      const page = await readStreamPage(this.pool, this.st, stream, w, from, Math.min(left, this.pageSize));
      for (const e of page) yield e;
      left -= page.length;
      if (page.length < this.pageSize) return;
      from = page[page.length - 1]!.revision + (w.direction === 'forward' ? 1 : -1);
    }
  }

  /**
   * Read every stream in position order after `fromPosition`. Waits (up to `horizonWaitMs`) for
   * transactions that began before a visible event to end, so it never skips one.
   */
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  async *readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const w = validateReadAllOptions(options);
    await this.init();
    const types = w.types ? [...w.types] : undefined;
    let from = w.fromPosition;
    let left = w.limit;
    let waited = 0;
    let backoff = 1;
    while (left > 0) {
      const page = await readPage(this.pool, this.st, from, Math.min(left, this.pageSize), { types });
      for (const e of page.events) yield e;
      left -= page.events.length;
      if (page.events.length > 0) {
        from = page.events[page.events.length - 1]!.position;
        waited = 0;
        backoff = 1;
      }
      if (!page.blocked) {
        if (page.rows < Math.min(left + page.events.length, this.pageSize)) return;
        continue;
      }
      if (waited >= this.horizonWaitMs) {
        throw new BackendUnavailableError('PostgreSQL', `readAll waited ${this.horizonWaitMs} ms for an older transaction to end (an open transaction holds back every reader of the log); retry later`);
      }
      await sleep(backoff);
      waited += backoff;
      backoff = Math.min(backoff * 2, 50);
    }
  }

  /** Catch up from `fromPosition` (exclusive), then deliver live events, in order, exactly once. */
  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    if (typeof handler !== 'function') throw new ValidationError('subscribe needs a handler function');
    let wake: (() => void) | undefined;
    let retry: NodeJS.Timeout | undefined;
    let backoff = 1;
    const self = this; // eslint-disable-line @typescript-eslint/no-this-alias -- the page reader is a generator
    const sub = catchUpSubscription(
      {
        readAll: async function* (this: void, o) {
          await self.init();
          self.listener.ensure();
          const page = await readPage(self.pool, self.st, o.fromPosition, o.limit, { stream: o.stream });
          if (page.blocked) {
            // an older transaction is still open: look again soon (it ends in milliseconds as a rule)
            clearTimeout(retry);
            retry = setTimeout(() => wake?.(), backoff);
            backoff = Math.min(backoff * 2, 100);
          } else backoff = 1;
          yield* page.events;
        },
        watch: (w) => {
          wake = w;
          const off = this.listener.watch(w);
          return () => {
            clearTimeout(retry);
            off();
          };
        },
      },
      {
        ...options,
        pageSize: this.pageSize,
        pollMs: this.pollMs,
        retryForMs: this.subscriptionRetryMs, // retrying BackendUnavailableError: an outage
      },
      handler,
    );
    return this.subscriptions.track(sub);
  }

  /** Current revision of a stream (0 when it does not exist). */
  async revision(stream: string): Promise<number> {
    this.assertOpen();
    validateName(stream, 'stream');
    await this.init();
    try {
      const res = await this.pool.query({ name: `${this.names.channel}_rev`, text: this.st.revision, values: [stream] });
      return (res.rows[0]?.revision as number | undefined) ?? 0;
    } catch (e) {
      throw mapPgError(e, 'reading a stream revision');
    }
  }

  /**
   * Erasure (StreamEraser, for the Store's purge): redact the events of `stream` with revision <
   * `beforeRevision` (type becomes `dgent.erased`, data null and metadata {}; revisions, positions,
   * ids and commit order stay). One UPDATE; resolves to how many were redacted now.
   */
  async eraseStream(stream: string, beforeRevision: number): Promise<number> {
    this.assertOpen();
    const { stream: s, before } = validateErase(stream, beforeRevision);
    await this.init();
    try {
      const res = await this.pool.query(`UPDATE ${this.names.events} SET type = $1, data = 'null'::json, metadata = '{}'::json WHERE stream = $2 AND revision < $3 AND type <> $1`, [ERASED_EVENT_TYPE, s, before]);
      return res.rowCount ?? 0;
    } catch (e) {
      throw mapPgError(e, 'erasing events');
    }
  }

  /**
   * Register a hook that runs inside every later append's transaction (after the events got their
   * positions, before they are visible); `tx.query` writes in that transaction. A throw aborts
   * that append alone. Returns the function that removes the hook.
   */
  onAppend(hook: AppendHook<PostgresAppendTransaction>): () => void {
    this.assertOpen();
    return addAppendHook(this.hooks, hook);
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** One round trip: a stream's revision (BackendUnavailableError when the server cannot be reached). Never throws: `{ ok: false, error }` when it cannot. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /** Close subscriptions, wait for appends in flight, release connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.closeAll();
    await this.queue.drained();
    await this.notifier.close();
    await this.listener.close();
    try {
      // reads still in flight keep their clients, and pool.end() waits for them: the watchdog must
      // go on ending the ones a server that stopped answering would hold for ever
      if (this.ownsPool) await this.pool.end();
    } finally {
      this.watchdog?.stop();
    }
  }

  /** Create the schema once; a failure (server down) is retried by the next call. */
  private init(): Promise<void> {
    this.ready ??= this.withClient((c) => ensureSchema(c, this.names)).then(
      () => void (this.initialised = true),
      (e: unknown) => {
        this.ready = undefined;
        throw mapPgError(e, `creating schema ${this.schema}`);
      },
    );
    return this.ready;
  }

  private async withClient<T>(fn: (client: Queryable) => Promise<T>): Promise<T> {
    let client: ListenClient;
    try {
      client = await this.pool.connect();
    } catch (e) {
      throw mapPgError(e, 'connecting', this.pool);
    }
    // a checked-out client has no pool error listener; an error event without one would crash the process
    const onError = (): void => undefined;
    client.on('error', onError);
    try {
      const out = await fn(this.watchdog ? this.watchdog.hold(client) : client);
      client.removeAllListeners('error');
      client.release();
      return out;
    } catch (e) {
      client.removeAllListeners('error');
      client.release(true); // unknown state (open transaction, dead socket): never hand it to the next caller
      throw e;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('PostgresEventLog');
  }
}

/** Event ids: no NUL and valid UTF-16 (PostgreSQL text cannot hold them), no id twice in one append. */
function checkIds(events: readonly NewEvent[]): void {
  const seen = new Set<string>();
  for (const [i, e] of events.entries()) {
    if (e.id === undefined) continue;
    if (e.id.includes('\0') || !e.id.isWellFormed()) throw new ValidationError(`event id at events[${i}] must not contain NUL or lone surrogates`, [{ message: 'bad id', path: `events[${i}].id` }]);
    if (seen.has(e.id)) throw new ValidationError(`event id ${JSON.stringify(e.id)} appears twice in one append`, [{ message: 'duplicate id', path: `events[${i}].id` }]);
    seen.add(e.id);
  }
}
