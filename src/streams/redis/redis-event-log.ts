/**
 * RedisEventLog: the EventLog on Redis Streams.
 *
 * Each append is one EVALSHA: the script checks event ids and the expected revision of every
 * stream involved, then assigns positions with INCR and writes the global stream, the stream's
 * index and the id index, atomically. Positions are therefore assigned in commit order and a
 * reader can never skip an event. Subscriptions catch up by reading the global stream and then
 * wait in XREAD BLOCK on a dedicated connection.
 *
 * Cluster: every key of one log carries the hash tag `{prefix}`, so a whole log lives in one slot
 * (one shard). That is what lets one script append to the global order and to any stream at
 * once; spread load over shards with several logs (different prefixes), not within one. Pass an
 * ioredis `Cluster` as `redis` (tested on 3 masters + 3 replicas, with `CLUSTER FAILOVER` mid-run:
 * docs/scaling-out.md#redis-cluster). The tail's blocking XREAD, ended with `UNBLOCKED` when its
 * master is demoted, is re-issued and finds the new master.
 *
 * Erasure (`eraseStream`, for the Store's purge): see {@link RedisEventLog.eraseStream}.
 *
 * Durability: an acknowledged append is in the server's memory. Whether it survives a server
 * crash depends on the server's persistence (`appendonly yes` with `appendfsync always` for every
 * write; `everysec` can lose about a second; RDB snapshots lose everything since the last one), so
 * `capabilities.durable` is false. A crash of the client process loses nothing acknowledged.
 *
 * @example
 * ```ts
 * import { RedisEventLog } from 'dgent/redis';
 * const log = new RedisEventLog({ url: 'redis://127.0.0.1:6379', prefix: 'myapp' });
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * ```
 */
import { ClosedError, ConcurrencyError, CorruptionError, ValidationError, shown } from '../../core/errors.js';
import {
  quitClient,
  resolveClient,
  toDgentError,
  validatePrefix,
  type RedisClient,
  type RedisConnectionOptions,
} from '../../agents/redis/client.js';
import type {
  AppendOptions,
  AppendResult,
  EventLog,
  EventLogCapabilities,
  ExpectedRevision,
  MultiStreamAppender,
  ReadAllOptions,
  ReadOptions,
  RecordedEvent,
  StreamAppend,
  SubscribeOptions,
  Subscription,
  NewEvent,
} from '../event-log.js';
import type { NewEventOf, RecordedEventOf } from '../event-log.js';
import { catchUpSubscription, SubscriptionSet } from '../subscription.js';
import { nonNegativeMs, withEventContext, resolveEventIds, validateEvents, validateExpected, validateName, validateReadAllOptions, validateReadOptions, type StoredEventRef } from '../validate.js';
import { eventArgs, toRecorded } from './records.js';
import { APPEND, ERASE, READ_ALL, READ_STREAM } from './scripts.js';
import { validateErase, type StreamEraser } from '../erase.js';
import { GlobalTail } from './tail.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

/** Options of {@link RedisEventLog}. */
export interface RedisEventLogOptions extends RedisConnectionOptions, ObservabilityOptions {
  /** Key prefix and hash tag of this log (default `dgent:log`); must not contain `{` or `}`. */
  prefix?: string | undefined;
  /** Events fetched per round trip when reading (default 256). */
  pageSize?: number | undefined;
  /**
   * How long a subscription keeps retrying reads that fail with BackendUnavailableError (Redis
   * restarting, a dropped connection), backing off up to 1 s, before `done` rejects with it
   * (default 30 000; 0: the first failure ends it). It resumes after the last delivered event.
   */
  subscriptionRetryMs?: number | undefined;
}

interface Part {
  stream: string;
  events: readonly NewEvent[];
  expected: ExpectedRevision;
}

/** The EventLog on Redis Streams. See the module documentation for layout, cluster and durability notes. */
export class RedisEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, MultiStreamAppender, StreamEraser {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: true, supportsInlineProjections: false, durable: false });
  private readonly client: RedisClient;
  private readonly owned: boolean;
  private readonly base: string;
  private readonly keys: { pos: string; all: string; ids: string; erased: string };
  private readonly pageSize: number;
  private readonly subscriptionRetryMs: number;
  private readonly tail: GlobalTail;
  private readonly subscriptions = new SubscriptionSet();
  private closed = false;

  private readonly obs: Instrumentation;

  constructor(options: RedisEventLogOptions) {
    this.obs = observeLog(this, { target: 'redis', system: 'redis', remote: true }, options);
    const prefix = validatePrefix(options.prefix ?? 'dgent:log');
    this.base = `{${prefix}}`;
    this.keys = { pos: `${this.base}:pos`, all: `${this.base}:all`, ids: `${this.base}:ids`, erased: `${this.base}:erased` };
    const page = options.pageSize ?? 256;
    if (!Number.isInteger(page) || page < 1) throw new ValidationError(`pageSize must be an integer >= 1, got ${shown(page)}`);
    this.pageSize = page;
    this.subscriptionRetryMs = nonNegativeMs(options.subscriptionRetryMs, 'subscriptionRetryMs', 30_000);
    const { client, owned } = resolveClient(options, 'RedisEventLog');
    this.client = client;
    this.owned = owned;
    this.tail = new GlobalTail(client, this.keys.all);
  }

  private streamKey(stream: string): string {
    return `${this.base}:s:${stream}`;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('RedisEventLog');
  }

  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  async append(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    const [r] = await this.appendParts([{ stream, events, expectedRevision: options.expectedRevision }]);
    return r!;
  }

  /** Append to several streams atomically: all parts are written, or none (ConcurrencyError names the first conflict). */
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    return this.appendParts(appends);
  }

  private async appendParts(appends: readonly StreamAppend[]): Promise<AppendResult[]> {
    this.assertOpen();
    if (!Array.isArray(appends) || appends.length === 0) throw new ValidationError('appendMany needs at least one stream');
    const parts: Part[] = appends.map((a) => ({ stream: validateName(a.stream, 'stream'), events: validateEvents(a.events), expected: validateExpected(a.expectedRevision) }));
    const names = new Set<string>();
    const ids = new Set<string>();
    for (const p of parts) {
      if (names.has(p.stream)) throw new ValidationError(`stream ${JSON.stringify(p.stream)} appears twice in one appendMany`);
      names.add(p.stream);
      resolveEventIds(p.stream, p.events, () => undefined); // ids repeated inside one part
      for (const e of p.events) {
        if (e.id === undefined) continue;
        if (ids.has(e.id)) throw new ValidationError(`event id ${JSON.stringify(e.id)} appears twice in one append`);
        ids.add(e.id);
      }
    }
    const keys = [this.keys.pos, this.keys.all, this.keys.ids, this.keys.erased];
    const args: string[] = [String(parts.length)];
    for (const p of parts) {
      keys.push(this.streamKey(p.stream));
      args.push(p.stream, String(p.expected), String(p.events.length));
      withEventContext(p.stream, p.events, () => eventArgs(p.events, args));
    }
    let reply: (string | number)[];
    try {
      reply = (await APPEND.run(this.client, keys, args)) as (string | number)[];
    } catch (e) {
      throw this.failure(e);
    }
    const code = Number(reply[0]);
    if (code === 1) {
      return parts.map((_, j) => ({ revision: Number(reply[1 + 2 * j]), position: Number(reply[2 + 2 * j]) }));
    }
    if (code === -1) {
      const p = parts[Number(reply[1]) - 1]!;
      throw new ConcurrencyError(p.expected, Number(reply[2]), `stream ${JSON.stringify(p.stream)}`);
    }
    if (code === -2) return this.resolveRetry(parts, reply);
    throw new CorruptionError(`unexpected reply from the append script: ${JSON.stringify(reply).slice(0, 200)}`, this.base);
  }

  /** Some ids of the batch are stored: an exact retry returns the original results, anything else is a ValidationError. */
  private resolveRetry(parts: readonly Part[], reply: readonly (string | number)[]): AppendResult[] {
    const stored = new Map<string, StoredEventRef>();
    for (let i = 1; i + 3 < reply.length + 1; i += 4) {
      stored.set(String(reply[i]), { position: Number(reply[i + 1]), stream: String(reply[i + 2]), revision: Number(reply[i + 3]) });
    }
    const results = parts.map((p) => resolveEventIds(p.stream, p.events, (id) => stored.get(id)));
    if (results.every((r): r is AppendResult => r !== undefined)) return results;
    throw new ValidationError('appendMany repeats some stored event ids but not a whole stored batch; only an exact retry is accepted');
  }

  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  async *read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    validateName(stream, 'stream');
    const w = validateReadOptions(options);
    const keys = [this.streamKey(stream), this.keys.all, this.keys.erased];
    let remaining = w.limit;
    let next = w.from;
    const forward = w.direction === 'forward';
    while (remaining > 0) {
      if (forward ? next > w.to : next < w.to) return;
      const count = Math.min(this.pageSize, remaining);
      const hi = forward ? (w.to === Infinity ? '+' : `${w.to}-0`) : next === Infinity ? '+' : `${next}-0`;
      const lo = forward ? `${next}-0` : `${w.to}-0`;
      const page = await this.run(() => READ_STREAM.run(this.client, keys, forward ? [lo, hi, count, 'f'] : [hi, lo, count, 'b']));
      const events = (page as unknown[]).map((e) => toRecorded(e, this.keys.all));
      for (const e of events) yield e;
      if (events.length < count) return;
      remaining -= events.length;
      const last = events[events.length - 1]!.revision;
      next = forward ? last + 1 : last - 1;
    }
  }

  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  async *readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const w = validateReadAllOptions(options);
    if (w.types !== undefined && w.types.size === 0) return;
    let remaining = w.limit;
    let from = w.fromPosition;
    while (remaining > 0) {
      const count = w.types ? this.pageSize : Math.min(this.pageSize, remaining);
      const page = await this.readPage(from, count);
      for (const e of page) {
        if (w.types && !w.types.has(e.type)) continue;
        yield e;
        if (--remaining === 0) return;
      }
      if (page.length < count) return;
      from = page[page.length - 1]!.position;
    }
  }

  /** Events with position > from, ascending, at most `count`. */
  private async readPage(from: number, count: number): Promise<RecordedEvent[]> {
    const raw = await this.run(() => READ_ALL.run(this.client, [this.keys.all, this.keys.erased], [from, count]));
    return (raw as unknown[]).map((e) => toRecorded(e, this.keys.all));
  }

  /**
   * Erasure (StreamEraser, for the Store's purge): redact the events of `stream` with revision <
   * `beforeRevision`, in one atomic script. Their entries are deleted from the global stream and
   * only their stream, revision, position, id and time are kept (in `{prefix}:erased`), so reads
   * return them as events of type `dgent.erased` with data null and no metadata; revisions,
   * positions and checkpoints stay valid. Resolves to how many were redacted now.
   *
   * Redis frees the memory of the deleted entries, but an RDB or AOF file written before keeps
   * them until it is rewritten (BGREWRITEAOF, the next snapshot), and so does a replica's backlog.
   */
  async eraseStream(stream: string, beforeRevision: number): Promise<number> {
    this.assertOpen();
    const { stream: s, before } = validateErase(stream, beforeRevision);
    return Number(await this.run(() => ERASE.run(this.client, [this.keys.all, this.streamKey(s), this.keys.erased], [before])));
  }

  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    const sub = catchUpSubscription(
      {
        readAll: ({ fromPosition, limit }) => iterate(this.readPage(fromPosition, limit)),
        watch: (wake) => this.tail.watch(wake),
      },
      {
        ...options,
        pageSize: this.pageSize,
        retryForMs: this.subscriptionRetryMs, // retrying BackendUnavailableError: an outage
      },
      handler,
    );
    return this.subscriptions.track(sub);
  }

  async revision(stream: string): Promise<number> {
    this.assertOpen();
    validateName(stream, 'stream');
    return this.run(() => this.client.xlen(this.streamKey(stream)));
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** One round trip: a stream's revision. Never throws: `{ ok: false, error }` when it cannot. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /** Close subscriptions, then the connection if this log created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.subscriptions.closeAll();
    await this.tail.close();
    if (this.owned) await quitClient(this.client);
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen(); // a reader's next page after close()
    try {
      return await fn();
    } catch (e) {
      throw this.failure(e);
    }
  }

  /** A call that failed because close() ended the connection under it is ClosedError, not an outage. */
  private failure(e: unknown): Error {
    return this.closed ? new ClosedError('RedisEventLog') : toDgentError(e, `RedisEventLog ${this.base}`, this.client);
  }
}

async function* iterate<T>(page: Promise<readonly T[]>): AsyncIterable<T> {
  yield* await page;
}
