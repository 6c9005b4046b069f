/**
 * EventStoreDBEventLog: the EventLog on EventStoreDB / KurrentDB through `@eventstore/db-client`.
 *
 * Numbers (see mapping.ts for the full table):
 * - dgent revision n = server revision n - 1 (dgent counts from 1, the server from 0).
 * - expectedRevision n > 0 → server revision n - 1; 0 or 'no_stream' → NO_STREAM;
 *   'stream_exists' → STREAM_EXISTS; 'any' → ANY. A conflict is a ConcurrencyError whose
 *   `expected` is what the caller passed and whose `actual` is the stream's dgent revision
 *   (server revision + 1; 0 when the stream does not exist).
 * - `position` is the $all commit position (a transaction-log byte offset; equal to the prepare
 *   position for every event written by a gRPC append) as a JS number. It grows with every event
 *   but not by 1. `fromPosition` p (readAll, subscribe) means "after the event at $all position
 *   p": pass 0 or a position this log returned, not an arbitrary number.
 *
 * What the log shows: readAll and subscribe read $all and leave out the server's system events
 * (`$`-prefixed event types or stream names), dgent's id claims, and, with `prefix`, every stream
 * outside the prefix. Stream names starting with `$` are reserved by the server: InvalidKeyError
 * here. Event types starting with `$` (the server's system types, but also StreamAgent's `$state`
 * and `$patch`) are stored escaped and read back as given (mapping.ts).
 *
 * Filtering: subscribe filters on the server (event type, or stream name when a prefix or a
 * stream is given). readAll filters types here, after reading pages of $all, because
 * @eventstore/db-client 6.x sends no filter with readAll.
 *
 * Capabilities: durable (an acknowledged append is written by the server, which fsyncs before it
 * acknowledges), no atomic multi-stream append (the gRPC API has none), no inline projections.
 *
 * @example
 * ```ts
 * import { EventStoreDBEventLog } from 'dgent/eventstoredb';
 * const log = new EventStoreDBEventLog({ connectionString: 'esdb://localhost:2113?tls=false' });
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi', at: new Date() } }], { expectedRevision: 'no_stream' });
 * for await (const e of log.read('chat-1')) console.log(e.revision, e.type, e.data);
 * await log.close();
 * ```
 */
import { BACKWARDS, END, EventStoreDBClient, FORWARDS, START, StreamNotFoundError, WrongExpectedVersionError, excludeSystemEvents, streamNameFilter, type Filter, type ResolvedEvent } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { ClosedError, ConcurrencyError, DgentError, InvalidKeyError, ValidationError, shown } from '../../core/errors.js';
import type { AppendOptions, AppendResult, EventLog, EventLogCapabilities, NewEvent, ReadAllOptions, ReadOptions, RecordedEvent, SubscribeOptions, Subscription } from '../event-log.js';
import type { NewEventOf, RecordedEventOf } from '../event-log.js';
import { nonNegativeMs, validateEvents, validateExpected, validateName, validateReadAllOptions, validateReadOptions, validateSubscribeOptions, withEventContext } from '../validate.js';
import { toDgentError } from './errors.js';
import { redactUrl } from '../../core/connection-url.js';
import { OpenReads } from './reads.js';
import { CLAIM_PREFIX, claimIds } from './id-claims.js';
import { encodeEvent, exactRegex, serverIdOf, toDgentPosition, toDgentRevision, toRecorded, toServerExpected, toServerPosition } from './mapping.js';
import { serverSubscription } from './subscription.js';
import { eraseEvents, isErased, loadErasures, type Erasures } from './erasure.js';
import { validateErase, type StreamEraser } from '../erase.js';
import { SubscriptionSet } from '../subscription.js';
import { logHealth, observeLog } from '../../observability/observe.js';
import type { Instrumentation } from '../../observability/instrumentation.js';
import type { HealthOptions, HealthResult, ObservabilityOptions, Stats } from '../../observability/types.js';

/** Options of {@link EventStoreDBEventLog}: a client you own, or a connection string (the log then owns and disposes its client). */
export type EventStoreDBEventLogOptions = ({ client: EventStoreDBClient; connectionString?: never | undefined } | { connectionString: string; client?: never | undefined }) & ObservabilityOptions & {
  /**
   * Namespace several logs in one server: every stream of this log is stored as `prefix + name`,
   * and readAll/subscribe show only streams under the prefix (default '' = every user stream).
   */
  prefix?: string | undefined;
  /** $all events fetched per readAll request (default 512) */
  pageSize?: number | undefined;
  /**
   * How long `close()` waits for a client the log owns to dispose (default 10 000 ms). Past it,
   * `close()` destroys the reads still open and rejects with a DgentError naming them, instead of
   * waiting for ever.
   */
  closeTimeoutMs?: number | undefined;
};

/** The EventLog on EventStoreDB / KurrentDB. See the module documentation for the number mapping. */
export class EventStoreDBEventLog<E extends NewEvent = NewEvent> implements EventLog<E>, StreamEraser {
  readonly capabilities: EventLogCapabilities = Object.freeze({ supportsMultiStreamAppend: false, supportsInlineProjections: false, durable: true });
  private readonly client: EventStoreDBClient;
  private readonly owned: boolean;
  private readonly prefix: string;
  private readonly pageSize: number;
  private readonly subscriptions = new SubscriptionSet();
  private readonly reads = new OpenReads();
  private readonly closeTimeoutMs: number;
  private closed = false;

  private readonly obs: Instrumentation;

  constructor(options: EventStoreDBEventLogOptions) {
    this.obs = observeLog(this, { target: 'eventstoredb', system: 'eventstoredb', remote: true }, options);
    const prefix = options.prefix ?? '';
    if (typeof prefix !== 'string' || prefix.startsWith('$') || prefix.includes('\0')) throw new InvalidKeyError(prefix, 'prefix must be a string that does not start with $ nor hold NUL');
    this.prefix = prefix;
    const page = options.pageSize ?? 512;
    if (!Number.isInteger(page) || page < 1) throw new ValidationError(`pageSize must be an integer >= 1, got ${shown(page)}`);
    this.pageSize = page;
    this.closeTimeoutMs = nonNegativeMs(options.closeTimeoutMs, 'closeTimeoutMs', 10_000);
    if (options.client !== undefined) {
      this.client = options.client;
      this.owned = false;
    } else if (typeof options.connectionString === 'string') {
      try {
        this.client = EventStoreDBClient.connectionString(options.connectionString);
      } catch (e) {
        // the client's ParseError says where the string is wrong; a configuration mistake, not an outage
        throw new ValidationError(`EventStoreDBEventLog: connection string ${redactUrl(options.connectionString)}: ${(e as Error).message}`, [
          { message: (e as Error).message, path: 'connectionString' },
        ]);
      }
      this.owned = true;
    } else {
      throw new ValidationError('EventStoreDBEventLog needs { client } or { connectionString }');
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('EventStoreDBEventLog');
  }

  /** Validate a dgent stream name and return the server's name for it. */
  private serverStream(stream: unknown): string {
    const name = validateName(stream, 'stream');
    if (name.startsWith('$')) throw new InvalidKeyError(name, 'stream names starting with $ are reserved by EventStoreDB for system streams');
    if (name.startsWith(CLAIM_PREFIX)) throw new InvalidKeyError(name, `stream names starting with ${CLAIM_PREFIX} hold dgent's event id claims`);
    return this.prefix + name;
  }

  /** The dgent event for a resolved event of $all, or undefined when it is not one of this log's (or erased). */
  private fromAll(r: ResolvedEvent, erasures: Erasures, only?: string): RecordedEvent | undefined {
    const ev = r.event;
    if (ev === undefined || ev.type.startsWith('$') || ev.streamId.startsWith('$') || !ev.streamId.startsWith(this.prefix)) return undefined;
    const stream = ev.streamId.slice(this.prefix.length);
    if (stream.startsWith(CLAIM_PREFIX) || (only !== undefined && stream !== only)) return undefined;
    if (erasures.size > 0 && isErased(erasures, stream, toDgentRevision(ev.revision))) return undefined;
    return toRecorded(r, stream, `EventStoreDB $all @${ev.position?.commit ?? '?'}`);
  }

  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  async append(stream: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.assertOpen();
    const name = this.serverStream(stream);
    validateEvents(events);
    const expected = validateExpected(options.expectedRevision);
    // encode first: bad data is a SerializationError before any claim or append reaches the server
    const encoded = withEventContext(stream, events, () => events.map((e) => encodeEvent(e, e.id === undefined ? randomUUID() : serverIdOf(e.id))));
    try {
      const retry = await claimIds(this.client, this.reads, this.prefix, stream, events);
      if (retry !== undefined) return retry;
      const r = await this.client.appendToStream(name, encoded, { expectedRevision: toServerExpected(expected) });
      if (r.position === undefined) throw new ValidationError('the server acknowledged the append without a $all position');
      return { revision: toDgentRevision(r.nextExpectedRevision), position: toDgentPosition(r.position.commit) };
    } catch (e) {
      if (e instanceof WrongExpectedVersionError) {
        const actual = e.actualVersion === 'no_stream' ? 0 : typeof e.actualVersion === 'bigint' ? toDgentRevision(e.actualVersion) : Number.NaN;
        throw new ConcurrencyError(expected, actual, `stream ${JSON.stringify(stream)}`);
      }
      // close() cancelled the call: the batch may or may not have been stored, as with any append that fails in flight
      if (this.closed && !(e instanceof DgentError)) throw new ClosedError('EventStoreDBEventLog');
      throw toDgentError(e, `append to ${JSON.stringify(stream)}`);
    }
  }

  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  async *read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const name = this.serverStream(stream);
    const w = validateReadOptions(options);
    const forward = w.direction === 'forward';
    const span = forward ? w.to - w.from + 1 : w.from - w.to + 1;
    const count = Math.min(w.limit, span);
    if (!(count > 0)) return;
    const fromRevision = forward ? BigInt(w.from - 1) : w.from === Infinity ? END : BigInt(w.from - 1);
    const where = `EventStoreDB stream ${JSON.stringify(name)}`;
    try {
      const reader = this.client.readStream(name, { direction: forward ? FORWARDS : BACKWARDS, fromRevision, maxCount: count === Infinity ? Number.MAX_SAFE_INTEGER : count });
      for await (const r of this.reads.entries(reader, `read ${JSON.stringify(stream)}`)) {
        if (r.event === undefined || r.event.type.startsWith('$')) continue;
        const e = toRecorded(r, stream, where);
        if (forward ? e.revision > w.to : e.revision < w.to) return;
        yield e;
      }
    } catch (e) {
      if (e instanceof StreamNotFoundError) return;
      throw toDgentError(e, `read ${JSON.stringify(stream)}`);
    }
  }

  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  async *readAll(options?: ReadAllOptions): AsyncIterable<RecordedEvent> {
    this.assertOpen();
    const w = validateReadAllOptions(options);
    if (w.types !== undefined && w.types.size === 0) return;
    let remaining = w.limit;
    let from = w.fromPosition;
    let erasures: Erasures;
    try {
      erasures = await loadErasures(this.client, this.reads, this.prefix);
    } catch (e) {
      throw toDgentError(e, 'readAll (erasure records)');
    }
    while (remaining > 0) {
      let raw = 0;
      let lastRaw = from;
      try {
        // a forward read of $all starts AT the position given (inclusive): the event at `from` is skipped below
        const page = this.client.readAll({ direction: FORWARDS, fromPosition: from === 0 ? START : toServerPosition(from), maxCount: this.pageSize });
        for await (const r of this.reads.entries(page, `readAll page after position ${from}`)) {
          raw++;
          const commit = r.event?.position?.commit ?? r.commitPosition;
          if (commit !== undefined) lastRaw = Math.max(lastRaw, toDgentPosition(commit));
          const e = this.fromAll(r, erasures);
          if (e === undefined || e.position <= from) continue;
          if (w.types && !w.types.has(e.type)) continue;
          yield e;
          if (--remaining === 0) return;
        }
      } catch (e) {
        throw toDgentError(e, 'readAll');
      }
      if (raw < this.pageSize || lastRaw === from) return;
      from = lastRaw;
    }
  }

  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the typed signature is the overload above
  subscribe(options: SubscribeOptions, handler: (e: any) => void | Promise<void>): Subscription {
    this.assertOpen();
    const { fromPosition, stream } = validateSubscribeOptions(options);
    if (typeof handler !== 'function') throw new ValidationError('subscribe needs a handler function');
    let filter: Filter;
    if (stream !== undefined) filter = streamNameFilter({ regex: exactRegex(this.serverStream(stream)) });
    else if (this.prefix !== '') filter = streamNameFilter({ prefixes: [this.prefix] });
    else filter = excludeSystemEvents();
    let erasures: Erasures = new Map();
    const sub = serverSubscription(
      {
        client: this.client,
        filter,
        prepare: async () => void (erasures = await loadErasures(this.client, this.reads, this.prefix)),
        convert: (r) => this.fromAll(r, erasures, stream),
      },
      fromPosition,
      handler,
    );
    return this.subscriptions.track(sub);
  }

  async revision(stream: string): Promise<number> {
    this.assertOpen();
    const name = this.serverStream(stream);
    try {
      for await (const r of this.reads.entries(this.client.readStream(name, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }), `revision of ${JSON.stringify(stream)}`)) {
        if (r.event !== undefined) return toDgentRevision(r.event.revision);
      }
      return 0;
    } catch (e) {
      if (e instanceof StreamNotFoundError) return 0;
      throw toDgentError(e, `revision of ${JSON.stringify(stream)}`);
    }
  }

  /**
   * Erasure (StreamEraser, for the Store's purge): the events of `stream` with revision <
   * `beforeRevision` are recorded as erased (no reader of this log returns them from then on) and
   * truncated on the server (its next scavenge removes them from disk); see erasure.ts for how
   * this differs from the logs that redact in place. `beforeRevision` may be at most the stream's
   * revision (the server keeps a stream's revision in its last event). Resolves to how many were
   * erased now.
   */
  async eraseStream(stream: string, beforeRevision: number): Promise<number> {
    this.assertOpen();
    const { stream: s, before } = validateErase(stream, beforeRevision);
    const name = this.serverStream(s);
    const head = await this.revision(s);
    if (before > head) {
      throw new ValidationError(`eraseStream: EventStoreDB keeps a stream's last event (it holds the stream's revision); beforeRevision may be at most ${head} for ${JSON.stringify(s)}, got ${before}`);
    }
    if (before <= 1) return 0;
    try {
      return await eraseEvents(this.client, this.reads, this.prefix, s, name, before);
    } catch (e) {
      if (this.closed && !(e instanceof DgentError)) throw new ClosedError('EventStoreDBEventLog');
      throw toDgentError(e, `erase ${JSON.stringify(s)}`);
    }
  }

  /** Operation counts, errors and latency percentiles (docs/observability.md). */
  stats(): Stats {
    return this.obs.stats();
  }

  /** One round trip: a stream's revision. Never throws: `{ ok: false, error }` when it cannot. */
  health(options?: HealthOptions): Promise<HealthResult> {
    return logHealth(this, this.obs, options);
  }

  /**
   * End the reads still open (a consumer still iterating gets ClosedError), stop every
   * subscription, then dispose the client if the log created it, waiting at most `closeTimeoutMs`.
   * Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reads.abortAll();
    await this.subscriptions.closeAll();
    if (this.owned) await this.dispose();
  }

  /** `client.dispose()` waits for every gRPC call of the client to finish: bound it, and say what did not. */
  private async dispose(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
    });
    const outcome = await Promise.race([this.client.dispose().then(() => 'disposed' as const), timeout]).finally(() => clearTimeout(timer));
    if (outcome === 'disposed') return;
    const open = this.reads.describe();
    this.reads.destroyAll();
    const what = open.length > 0 ? open.join('; ') : 'no read of this log (an append or a subscription call of the client)';
    throw new DgentError(`EventStoreDBEventLog.close(): the EventStoreDB client did not dispose within ${this.closeTimeoutMs} ms; still open: ${what}. The log is closed; the reads named were destroyed`);
  }
}
