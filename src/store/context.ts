/**
 * The state every operation group of a Store shares: the log, the views (storage, runner and
 * readers), the clock, access control and this Store's read-your-writes position.
 *
 * Consistency: with inline views a resolved write is already in the views. With async views the
 * Store remembers the position of its last write and every read first waits until the views
 * reached it (read-your-writes per Store); conflicts wait for the log's head before retrying.
 */
import { ClosedError, ConcurrencyError, StateTooLargeError, ValidationError, shown } from '../core/errors.js';
import { encodedSize } from '../core/codec.js';
import { backoffMs, Mutex, sleep } from '../core/mutex.js';
import type { KeyedMeta } from '../projections/keyed-events.js';
import { validateKey, validateNamespace } from '../projections/keyed-events.js';
import { ProjectionRunner } from '../projections/runner/projection-runner.js';
import { headPosition } from '../projections/runner/log-head.js';
import type { ProjectionMode } from '../projections/runner/types.js';
import type { ViewStorage } from '../projections/view-storage.js';
import { viewReaders, type ViewReaders } from '../projections/views/index.js';
import { isMultiStreamAppender, type AppendResult, type EventLog, type ExpectedRevision, type NewEvent, type StreamAppend } from '../streams/event-log.js';
import { Access } from './access.js';
import { defaultViewStorage, storeViews } from './default-views.js';
import { mapPgError } from '../streams/postgres/errors.js';
import { valueReader, type ValueOf } from './value-reader.js';
import { ReadChecks } from './read-checks.js';
import type { AuthorizeRequest, OpOptions, StoreClock, StoreOptions } from './types.js';

export const DEFAULT_NAMESPACE = 'default';

/** The shared state of one Store (internal). */
export class StoreContext {
  readonly log: EventLog;
  readonly clock: StoreClock;
  readonly access: Access;
  readonly maxRetries: number;
  /** longest encoded value a write may store, bytes */
  readonly maxValueBytes: number;
  readonly defaultActor: string | undefined;
  readonly ready: Promise<void>;
  storage!: ViewStorage;
  ownsStorage = false;
  runner!: ProjectionRunner;
  readers!: ViewReaders;
  /** atomic checks of keys a transaction only read (memory, SQLite) */
  readChecks!: ReadChecks;
  /** one key's live value (the hot path of get) */
  valueOf!: ValueOf;
  mode!: ProjectionMode;
  closed = false;
  /** subscriptions still starting: writes wait for them, so a subscription made before a write hears it */
  readonly starting = new Set<Promise<void>>();
  /** running subscriptions, stopped by close() */
  readonly subscriptions = new Set<() => Promise<void>>();
  /** position of this Store's last write (async views: reads wait for it) */
  private written = 0;
  /** a position the views are known to have reached */
  private seen = 0;

  constructor(private readonly options: StoreOptions) {
    if (typeof options !== 'object' || options === null) throw new ValidationError('Store needs an options object { log, views?, authorize?, clock? }');
    const log = options.log as EventLog | undefined;
    if (!log || typeof log.append !== 'function' || typeof log.readAll !== 'function' || !log.capabilities) throw new ValidationError('Store: log must be an EventLog');
    this.log = log;
    if (options.clock !== undefined && typeof options.clock?.now !== 'function') throw new ValidationError('Store: clock must have now(): number');
    this.clock = options.clock ?? { now: Date.now };
    this.access = new Access(options.authorize, options.authorizeCacheMs ?? 0, this.clock, options.authorizeCacheSize);
    this.maxRetries = options.maxRetries ?? 20;
    if (!Number.isInteger(this.maxRetries) || this.maxRetries < 1) throw new ValidationError(`Store: maxRetries must be an integer >= 1, got ${shown(options.maxRetries)}`);
    if (options.viewsMode !== undefined && options.viewsMode !== 'inline' && options.viewsMode !== 'async') throw new ValidationError(`Store: viewsMode must be 'inline' or 'async'`);
    this.maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!Number.isInteger(this.maxValueBytes) || this.maxValueBytes < 1) throw new ValidationError(`Store: maxValueBytes must be an integer >= 1, got ${shown(options.maxValueBytes)}`);
    this.defaultActor = options.actor;
    this.ready = this.init();
    this.ready.catch(() => undefined); // reported by the first operation (or close)
  }

  private async init(): Promise<void> {
    const o = this.options;
    this.ownsStorage = o.views === undefined;
    this.storage = o.views ?? (await defaultViewStorage(this.log));
    const mode = o.viewsMode;
    const projections = storeViews(o.viewOptions).map((projection) => (mode ? { projection, mode } : projection));
    this.runner = new ProjectionRunner({ log: this.log, storage: this.storage, projections });
    try {
      await this.runner.start();
    } catch (e) {
      await this.runner.close().catch(() => undefined);
      if (this.ownsStorage) await this.storage.close().catch(() => undefined);
      throw e;
    }
    this.readers = viewReaders(this.storage);
    this.readChecks = new ReadChecks(this.log);
    // views the Store opened on a PostgreSQL log's pool: get may use named statements on that pool
    const pool = this.ownsStorage && this.storage.kind === 'postgres' ? ((this.log as unknown as { pool?: unknown }).pool as never) : undefined;
    this.valueOf = valueReader(this.storage, this.readers, pool, (e) => mapPgError(e, 'reading a view'));
    this.mode = (await this.runner.status('kv'))[0]?.mode ?? 'async';
    this.opened = true;
  }

  private opened = false;

  /** Reads may skip the awaits of open/authorize/fresh: set up, open, inline views, no access hook. */
  get direct(): boolean {
    return this.opened && !this.closed && this.mode === 'inline' && !this.access.active;
  }

  /** Wait for setup; ClosedError after close(). */
  async open(): Promise<void> {
    if (this.closed) throw new ClosedError('Store');
    await this.ready;
    if (this.closed) throw new ClosedError('Store');
  }

  /** The namespace of an operation, validated (default `'default'`). */
  ns(o: OpOptions | undefined): string {
    return validateNamespace(o?.namespace ?? DEFAULT_NAMESPACE);
  }

  key(key: unknown, namespace: string): string {
    return validateKey(key, namespace);
  }

  actor(o: { actor?: string } | undefined): string | undefined {
    const a = o?.actor ?? this.defaultActor;
    if (a !== undefined && typeof a !== 'string') throw new ValidationError('actor must be a string');
    return a;
  }

  meta(o: OpOptions | undefined, operation: string, tx?: string): KeyedMeta {
    const m: KeyedMeta = { operation };
    const a = this.actor(o);
    if (a !== undefined) m.actor = a;
    if (tx !== undefined) m.tx = tx;
    return m;
  }

  async authorize(action: AuthorizeRequest['action'], namespace: string, key: string | undefined, o: { actor?: string } | undefined): Promise<void> {
    await this.access.check({ actor: this.actor(o), action, namespace, key });
  }

  now(): number {
    return this.clock.now();
  }

  /** Before a read: async views catch up with this Store's own writes. */
  async fresh(): Promise<void> {
    if (this.mode === 'inline' || this.written <= this.seen) return;
    const target = this.written;
    await this.runner.whenCaughtUp({ position: target });
    this.seen = Math.max(this.seen, target);
  }

  /** After a conflict: async views catch up with the log's head (other writers included). */
  async sync(): Promise<void> {
    if (this.mode === 'inline') return;
    const head = await headPosition(this.log, this.seen);
    await this.runner.whenCaughtUp({ position: head });
    this.seen = Math.max(this.seen, head);
  }

  private wrote(position: number): void {
    if (position > this.written) this.written = position;
  }

  /**
   * StateTooLargeError (nothing appended) when `value`, encoded, is over maxValueBytes. A string
   * short enough that even 3 bytes per UTF-16 unit fit is not encoded to be measured.
   */
  checkValueSize(value: unknown): void {
    if (typeof value === 'string' && value.length * 3 + 2 <= this.maxValueBytes) return;
    if (typeof value !== 'object' && typeof value !== 'string') return; // numbers, booleans, null: a few bytes
    const size = encodedSize(value);
    if (size > this.maxValueBytes) throw new StateTooLargeError(size, this.maxValueBytes);
  }

  async append(stream: string, events: readonly NewEvent[], expectedRevision: ExpectedRevision): Promise<AppendResult> {
    if (this.starting.size > 0) await Promise.allSettled([...this.starting]);
    const r = await this.log.append(stream, events, { expectedRevision });
    this.wrote(r.position);
    return r;
  }

  get atomicMany(): boolean {
    return isMultiStreamAppender(this.log);
  }

  /** One atomic append to several streams (appendMany), or one append when there is one stream. */
  async appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    if (appends.length === 1) return [await this.append(appends[0]!.stream, appends[0]!.events, appends[0]!.expectedRevision ?? 'any')];
    if (!isMultiStreamAppender(this.log)) throw new ValidationError('this log has no atomic appendMany: a transaction may write one key only');
    if (this.starting.size > 0) await Promise.allSettled([...this.starting]);
    const rs = await this.log.appendMany(appends);
    for (const r of rs) this.wrote(r.position);
    return rs;
  }

  /** Run `fn` again after a ConcurrencyError (views synced first), up to maxRetries attempts. */
  async retry<T>(fn: (attempt: number) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(attempt);
      } catch (e) {
        if (!(e instanceof ConcurrencyError) || attempt >= this.maxRetries) throw e;
        await sleep(backoffMs(attempt)); // jitter: contenders of one key stop colliding in lockstep
        await this.sync();
      }
    }
  }

  private readonly locks = new Map<string, { mutex: Mutex; users: number }>();

  /** Serialise read-modify-write cycles on one key inside this process (conflicts then only come from other processes). */
  async lock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    let l = this.locks.get(id);
    if (!l) this.locks.set(id, (l = { mutex: new Mutex(), users: 0 }));
    l.users++;
    try {
      return await l.mutex.run(fn);
    } finally {
      if (--l.users === 0) this.locks.delete(id);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s()));
    try {
      await this.ready;
    } catch {
      return;
    }
    this.readChecks.close();
    await this.runner.close();
    if (this.ownsStorage) await this.storage.close();
  }
}

/** The default of StoreOptions.maxValueBytes: 16 MiB. */
const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024;
