/**
 * RedisAgent: an agent's state in Redis, with versions, a bounded history, optional expiry (TTL)
 * and change notifications that reach every process.
 *
 * One agent is one Redis list `<prefix>{<key>}` holding a `<version>:<ms>` header and the encoded
 * state per save, newest first. `load()` is one `LRANGE 0 1` and a decode (skipped when the state
 * is unchanged since the last read); `save()` is one EVALSHA that checks the version, pushes the new
 * pair, trims the history, refreshes the TTL and publishes the change, atomically.
 *
 * @example
 * ```ts
 * import { RedisAgent } from 'dgent/redis';
 * const agent = new RedisAgent<{ turns: string[] }>({ url: 'redis://127.0.0.1:6379', key: 'chat-42', ttlMs: 86_400_000 });
 * await agent.update((s) => { s.turns.push('hello'); });
 * const off = agent.subscribe((state, { version }) => console.log(version, state));
 * ```
 */
import type { Redis } from 'ioredis';
import { decode, prepare, TAG_MARK } from '../core/codec.js';
import { ClosedError, ConcurrencyError, CorruptionError, ValidationError, type DgentError, shown } from '../core/errors.js';
import { toMs } from '../core/ids.js';
import type { ChangeInfo, Frozen, LoadAtTarget, SaveOptions, Unsubscribe } from './data-agent.js';
import {
  duplicateClient,
  quitClient,
  resolveClient,
  toDgentError,
  validateKeyPart,
  validatePrefix,
  type RedisClient,
  type RedisConnectionOptions,
} from './redis/client.js';
import { FieldEncoder } from './redis/field-encoder.js';
import { AT_TIME, AT_VERSION, LOAD_REFRESH, SAVE } from './redis/scripts.js';
import { VersionedAgent, type Snapshot, type VersionedAgentOptions } from './versioned-agent.js';

/** Options of {@link RedisAgent}. */
export interface RedisAgentOptions<S> extends VersionedAgentOptions<S>, RedisConnectionOptions {
  /** The agent's key (untrusted input is fine: it only ever becomes a suffix under `prefix`). */
  key: string;
  /** Key prefix (default `dgent:agent:`); must not contain `{` or `}`. */
  prefix?: string | undefined;
  /** Expire the agent this many ms after its last save (and, with `refreshTtlOnLoad`, its last read). */
  ttlMs?: number | undefined;
  /** Reads (`load`, `version`, the read of `update`) also extend the TTL: sliding expiry (default false). */
  refreshTtlOnLoad?: boolean | undefined;
  /** Saved states kept for `history()`/`loadAt()`, the current one included (default 100). */
  maxHistory?: number | undefined;
  /** Publish every save on a pub/sub channel so that `subscribe` works across processes (default true). */
  publish?: boolean | undefined;
  /**
   * Called when a change announced by another process cannot be fetched (Redis unreachable,
   * corrupt data). Default: rethrown asynchronously, like a failing listener, so it is never lost.
   */
  onNotificationError?: ((error: DgentError) => void) | undefined;
}

interface Entry<S> extends Snapshot<S> {
  /** the `<version>:<ms>` header: identifies one save (for de-duplicating notifications) */
  id: string;
}

/** How many recent save ids are remembered so that a save seen both locally and via pub/sub is reported once. */
const SEEN_LIMIT = 256;

/**
 * A versioned agent stored in Redis. Implements DataAgent, Versioned, Updatable, Subscribable, Closable.
 *
 * Failures to reach Redis raise BackendUnavailableError; with a client created from `url` they do
 * so within about a second and the agent works again once Redis is back (see FAIL_FAST_OPTIONS).
 * Times (`loadAt({ time })`, `ChangeInfo.time`) are the Redis server's clock.
 */
export class RedisAgent<S> extends VersionedAgent<S> {
  /** The Redis key holding this agent's list. */
  readonly redisKey: string;
  /** The pub/sub channel of this agent's changes. */
  readonly channel: string;
  private readonly client: RedisClient;
  private readonly owned: boolean;
  private readonly name: string;
  private readonly ttl: string;
  private readonly refreshOnLoad: boolean;
  private readonly maxHistory: string;
  private readonly publish: boolean;
  private subscriber: Redis | undefined;
  private subscribing: Promise<void> | undefined;
  private listenerCount = 0;
  private readonly seen = new Set<string>();
  /** the newest version reported to listeners (or current when they subscribed): where a catch-up after an outage starts */
  private reported = 0;
  /** whether `reported` has taken in the version current when the subscription started */
  private baselineMarked = false;
  private notifications: Promise<void> = Promise.resolve();
  private readonly onNotificationError: (error: DgentError) => void;
  /**
   * The last entry read or written, raw and decoded. States are immutable, so when Redis returns
   * the same bytes again `load()` hands out the same frozen state instead of decoding it again.
   * States holding Uint8Array (which cannot be frozen) are never cached.
   */
  private last: { text: string; entry: Entry<S> } | undefined;
  /** Encodes a new state re-using the text of the top-level fields it shares with the last one written. */
  private readonly encoder = new FieldEncoder();

  constructor(options: RedisAgentOptions<S>) {
    super(options);
    const key = validateKeyPart(options.key, 'agent key');
    const prefix = validatePrefix(options.prefix ?? 'dgent:agent:');
    const ttl = options.ttlMs;
    if (ttl !== undefined && (!Number.isInteger(ttl) || ttl < 1)) throw new ValidationError(`ttlMs must be an integer >= 1, got ${shown(ttl)}`);
    const max = options.maxHistory ?? 100;
    if (!Number.isInteger(max) || max < 1) throw new ValidationError(`maxHistory must be an integer >= 1, got ${shown(max)}`);
    // The hash tag keeps every key of one agent in one cluster slot, whatever the key contains.
    this.redisKey = `${prefix}{${key}}`;
    this.channel = `${this.redisKey}:changes`;
    this.name = `RedisAgent(${JSON.stringify(key.length > 60 ? key.slice(0, 60) + '…' : key)})`;
    this.ttl = ttl === undefined ? '0' : String(ttl);
    this.refreshOnLoad = (options.refreshTtlOnLoad ?? false) && ttl !== undefined;
    this.maxHistory = String(max);
    this.publish = options.publish ?? true;
    this.onNotificationError =
      options.onNotificationError ??
      ((e) =>
        queueMicrotask(() => {
          throw e;
        }));
    const { client, owned } = resolveClient(options, 'RedisAgent');
    this.client = client;
    this.owned = owned;
  }

  protected override describe(): string {
    return this.name;
  }

  /** A call that failed because close() ended the connection under it is ClosedError, not an outage. */
  private failure(e: unknown): Error {
    return this.closed ? new ClosedError(this.name) : toDgentError(e, this.name, this.client);
  }

  private parse(header: unknown, text: unknown): Entry<S> {
    const h = typeof header === 'string' ? header : '';
    const colon = h.indexOf(':');
    const version = Number(h.slice(0, colon));
    const ms = Number(h.slice(colon + 1));
    if (colon < 1 || !Number.isInteger(version) || version < 1 || !Number.isInteger(ms) || typeof text !== 'string') {
      throw new CorruptionError('history element is not a <version>:<time> header followed by a state', this.redisKey);
    }
    return { state: decode<S>(text, this.redisKey), version, time: new Date(ms), id: h };
  }

  /** Decode a [header, state] pair, re-using the last decoded state when the pair is the same. */
  private pair(raw: unknown): Entry<S> | undefined {
    const r = raw as [string?, string?] | null;
    if (!r || r.length === 0) return undefined;
    const [header, text] = r;
    const last = this.last;
    if (last !== undefined && last.entry.id === header && last.text === text) return last.entry;
    return this.remember(text!, this.parse(header, text));
  }

  protected async current(): Promise<Snapshot<S> | undefined> {
    let raw: unknown;
    try {
      raw = this.refreshOnLoad ? await LOAD_REFRESH.run(this.client, [this.redisKey], [this.ttl]) : await this.client.lrange(this.redisKey, 0, 1);
    } catch (e) {
      throw this.failure(e);
    }
    return this.pair(raw);
  }

  /**
   * Keep the entry for the next load or save unless its state holds bytes (`binary` when already
   * known; the text tells when it has no codec tag at all, which spares the walk that looks).
   */
  private remember(text: string, entry: Entry<S>, binary?: boolean): Entry<S> {
    if (binary === undefined) binary = text.includes(TAG_MARK) && prepare(entry.state).hasBinary;
    this.last = binary ? undefined : { text, entry };
    return entry;
  }

  /**
   * Re-saving the state last read or written (unchanged, so already validated and frozen) skips the
   * walk that `save` makes to validate and freeze a state; a new state skips it for the fields it
   * shares with the state last written (see FieldEncoder.prepare); anything else takes the usual path.
   */
  override async save(input: NoInfer<S> | Frozen<S>, options: SaveOptions = {}): Promise<void> {
    const state = input as S;
    const expected = options.expectedVersion;
    // an invalid expectedVersion is reported by the usual path
    if (expected !== undefined && (!Number.isInteger(expected) || expected < 0)) return super.save(state, options);
    this.assertOpen();
    const last = this.last;
    const prepared = last !== undefined && Object.is(last.entry.state, state) ? state : (this.encoder.prepare(state) as S | undefined);
    if (prepared === undefined) return super.save(state, options);
    this.emit(await this.write(prepared, expected));
  }

  protected async write(state: S, expectedVersion: number | undefined, hasBinary?: boolean): Promise<Snapshot<S>> {
    // Saving the state last loaded or saved (unchanged) re-uses its encoding instead of encoding it
    // again; a new state re-uses the encoding of the fields it shares with the state written before.
    const last = this.last;
    const { text, binary } = last !== undefined && Object.is(last.entry.state, state) ? { text: last.text, binary: false } : this.encoder.encode(state);
    let reply: unknown;
    try {
      reply = await SAVE.run(
        this.client,
        [this.redisKey],
        [text, expectedVersion === undefined ? '' : String(expectedVersion), this.maxHistory, this.ttl, this.publish ? this.channel : ''],
      );
    } catch (e) {
      throw this.failure(e);
    }
    if (typeof reply !== 'string') throw new ConcurrencyError(expectedVersion ?? 'any', (reply as [number, number])[1], this.name);
    // the state given to us is already frozen and validated: no need to decode what we just wrote
    const colon = reply.indexOf(':');
    return this.remember(text, { state, version: Number(reply.slice(0, colon)), time: new Date(Number(reply.slice(colon + 1))), id: reply }, hasBinary ?? binary);
  }

  protected async readHistory(limit: number): Promise<Snapshot<S>[]> {
    const stop = Math.min(limit, Number(this.maxHistory)) * 2 - 1;
    let raw: string[];
    try {
      raw = await this.client.lrange(this.redisKey, 0, stop);
    } catch (e) {
      throw this.failure(e);
    }
    const out: Snapshot<S>[] = [];
    for (let i = 0; i < raw.length; i += 2) out.push(i === 0 ? this.pair(raw.slice(0, 2))! : this.parse(raw[i], raw[i + 1]));
    return out;
  }

  protected async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    let raw: unknown;
    try {
      raw =
        'version' in target
          ? await AT_VERSION.run(this.client, [this.redisKey], [target.version])
          : await AT_TIME.run(this.client, [this.redisKey], [toMs(target.time)]);
    } catch (e) {
      throw this.failure(e);
    }
    if (!Array.isArray(raw)) return undefined;
    const snap = this.parse(raw[0], raw[1]);
    if ('version' in target && snap.version !== target.version) {
      throw new CorruptionError(`history holds version ${snap.version} where version ${target.version} belongs`, this.redisKey);
    }
    return snap;
  }

  /**
   * Listen to saves of this key from any process (via Redis pub/sub on a dedicated connection,
   * opened on the first subscribe). A save is announced by its small `<version>:<ms>` header and its
   * state read from the history, so each save is reported at most once per listener, in arrival
   * order; a save already superseded and trimmed away by then is skipped (the newer one follows).
   * Saves made while the subscriber connection was down are replayed when it is back, oldest
   * first, as far as the history (`maxHistory`) still holds them; versions never go backwards, so
   * a save this process made meanwhile ends that replay (older ones are not reported after it).
   * Use {@link RedisAgent.subscribed} to wait until other processes' saves are being received.
   */
  override subscribe(listener: (state: Frozen<S>, info: ChangeInfo) => void): Unsubscribe {
    const off = super.subscribe(listener);
    this.listenerCount++;
    if (this.publish && !this.subscriber && !this.closed) this.startSubscriber();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      off();
      this.listenerCount--;
      if (this.listenerCount === 0) this.stopSubscriber();
    };
  }

  /** Resolves once notifications from other processes are flowing (rejects when subscribing failed). */
  async subscribed(): Promise<void> {
    if (!this.subscribing) return;
    await this.subscribing;
  }

  private startSubscriber(): void {
    const sub = duplicateClient(this.client, `${this.name} subscriber`);
    this.subscriber = sub;
    sub.on('message', (channel: string, header: string) => {
      if (channel !== this.channel || this.subscriber !== sub || this.seen.has(header)) return;
      // one fetch at a time, so listeners see notifications in the order they arrived
      this.notifications = this.notifications.then(() => this.deliver(header));
    });
    // 'ready' also fires for the first connection, before the first SUBSCRIBE below is answered:
    // until that has settled, it handles the connection. Every later 'ready' (a reconnect, or the
    // first connection after a first SUBSCRIBE that failed) subscribes again and catches up.
    let first = true;
    sub.on('ready', () => {
      if (first || this.subscriber !== sub) return;
      const again = sub.subscribe(this.channel);
      this.notifications = this.notifications.then(async () => {
        try {
          await again;
        } catch {
          return; // down again: the next reconnect catches up
        }
        // never subscribed before (the first SUBSCRIBE failed): what is stored now is not news
        if (!this.baselineMarked) await this.markBaseline();
        else await this.catchUp();
      });
    });
    this.subscribing = sub
      .subscribe(this.channel)
      .then(
        // what is already stored is not news: a later catch-up starts after the version current now
        () => this.markBaseline(),
        (e: unknown) => {
          throw toDgentError(e, this.name, sub);
        },
      )
      .finally(() => {
        first = false;
      });
    // keep an unobserved rejection from crashing the process; subscribed() reports it
    this.subscribing.catch(() => undefined);
  }

  /** Fetch the state a notification announces and hand it to the listeners. */
  private async deliver(header: string): Promise<void> {
    if (this.seen.has(header) || this.listenerCount === 0 || this.closed) return;
    try {
      const version = Number(header.slice(0, header.indexOf(':')));
      if (!Number.isInteger(version) || version < 1) throw new CorruptionError(`malformed change notification ${JSON.stringify(header.slice(0, 40))}`, this.channel);
      // Announcements can be lost without the connection ever dropping (an ioredis Cluster moves
      // its subscriber connection to another node silently when its node list changes): a gap in
      // the versions is filled from the history first, oldest first, as far as it holds them.
      if (this.baselineMarked && version > this.reported + 1) {
        for (let v = Math.max(this.reported + 1, version - Number(this.maxHistory) + 1); v < version; v++) {
          const missed = await this.readAt({ version: v });
          if (missed !== undefined && missed.version > this.reported) this.emit(missed);
        }
      }
      const snap = await this.readAt({ version });
      // superseded (trimmed from the history, expired or replaced) before it could be read: the newer save follows
      if (snap === undefined || (snap as Entry<S>).id !== header) return;
      this.emit(snap);
    } catch (e) {
      if (!this.closed) this.onNotificationError(toDgentError(e, this.name, this.client));
    }
  }

  /**
   * Remember the newest version stored now (0 when none), read from its header alone: saves up to
   * it are not news to the listeners subscribing. Unknown when Redis cannot be asked (the
   * subscription itself is live): then the next reconnect marks it instead of catching up.
   */
  private async markBaseline(): Promise<void> {
    try {
      const header = await this.client.lindex(this.redisKey, 0);
      const version = header === null ? 0 : Number(header.slice(0, header.indexOf(':'))) || 0;
      if (version > this.reported) this.reported = version;
      this.baselineMarked = true;
    } catch {
      this.baselineMarked = false;
    }
  }

  /**
   * Report the saves after the newest one reported, oldest first, as far as the history holds
   * them. Versions never go backwards for the listeners: a save this process made meanwhile ends
   * the replay there (the older ones are not reported after it).
   */
  private async catchUp(): Promise<void> {
    if (this.listenerCount === 0 || this.closed) return;
    try {
      const head = await this.current();
      if (head === undefined) return;
      // the key was reset (expired or deleted: versions start again at 1), so its saves are all news
      if (head.version < this.reported) this.reported = 0;
      for (let v = Math.max(this.reported + 1, head.version - Number(this.maxHistory) + 1); v < head.version; v++) {
        const snap = await this.readAt({ version: v });
        if (snap !== undefined && snap.version > this.reported) this.emit(snap);
      }
      if (head.version > this.reported) this.emit(head);
    } catch (e) {
      if (!this.closed) this.onNotificationError(toDgentError(e, this.name, this.client));
    }
  }

  private stopSubscriber(): void {
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.subscribing = undefined;
    if (sub) void quitClient(sub);
  }

  protected override emit(snap: Snapshot<S>): void {
    const id = (snap as Entry<S>).id ?? `${snap.version}:${snap.time.getTime()}`;
    // the same save arrives twice in the saving process (its own reply and pub/sub), in either order
    if (this.seen.has(id)) return;
    this.seen.add(id);
    if (snap.version > this.reported) this.reported = snap.version;
    if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    super.emit(snap);
  }

  /** Stop notifications and, when the agent created its client from `url`, close it. */
  override async close(): Promise<void> {
    if (this.closed) return;
    await super.close();
    this.listenerCount = 0;
    await this.notifications;
    const sub = this.subscriber;
    this.subscriber = undefined;
    this.subscribing = undefined;
    if (sub) await quitClient(sub);
    if (this.owned) await quitClient(this.client);
  }
}
