/**
 * DgentSaver: a LangGraph checkpointer (BaseCheckpointSaver) on any dgent EventLog.
 *
 * - Storage grows with what changed, not with the thread: a checkpoint event (compact, codec.ts)
 *   holds ids, versions and metadata as changes against its parent's, and one small reference per
 *   changed channel; a channel value is stored once per version, and an array that extends its
 *   parent's value (messages under the messages reducer, any append-only list) as the appended
 *   items only, inside the checkpoint: as references to the pending writes they came from (what a
 *   node returned, plus the id the reducer added) when they are, else the items themselves. No
 *   opt-in (DeltaChannel) needed. Other values live inline when tiny, else in value streams.
 * - `getTuple` reads the thread stream's new events (one read), then builds each value from the
 *   thread index in memory (appended items) plus one read per value-stream range; the modules:
 *   checkpoint-data.ts (what put stores), tuples.ts (reads), thread-index.ts (the fold).
 * - A step's pending writes are held for the checkpoint put right after them and stored in its
 *   event (held-writes.ts): three events a turn of a chat graph instead of five; putWrites resolves
 *   once they are stored.
 * - Fencing: every append to a thread expects the thread revision this saver last saw. A second
 *   writer on the same thread (another process, another saver) gets ConcurrencyError instead of
 *   silently forking the chain; reading the thread again (getTuple) lets it continue.
 * - Lifecycle: `copyThread` / `fork` reference the source's values (no payload copied), `prune`
 *   keeps the latest checkpoints and everything they and a pending interrupt need, a TTL per thread.
 *   The log is append-only: deleting, pruning and expiry hide data, they do not reclaim bytes.
 *
 * @example
 * ```ts
 * import { DgentSaver } from 'dgent/langgraph';
 * const checkpointer = new DgentSaver({ path: './data/graph.db' });
 * const graph = workflow.compile({ checkpointer });
 * await graph.invoke({ messages: [new HumanMessage('hi')] }, { configurable: { thread_id: 't1' } });
 * ```
 */
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  BaseCheckpointSaver,
  WRITES_IDX_MAP,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type DeltaChannelHistory,
  type PendingWrite,
} from '@langchain/langgraph-checkpoint';
import { LRUCache } from 'lru-cache';
import { isDeepStrictEqual } from 'node:util';
import { ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import type { EventLog } from '../streams/event-log.js';
import { checkCommon, newEventId, openLog, StreamNames, type DgentSaverOptions } from './options.js';
import { BATCH, CHECKPOINT, CHECKPOINT_C, DELETED, LINK, PRUNED, TTL, toStored } from './records.js';
import { encodeBatch, encodeCheckpoint } from './codec.js';
import * as held from './held-writes.js';
import type { LinkData, Stored } from './records.js';
import { catchUp as catchUpWith, type IndexedCheckpoint, ThreadIndex } from './thread-index.js';
import { ValueStore } from './values.js';
import { fromStoredArgs, nsOf, remember, shareInput, threadOf, type ThreadState } from './thread-state.js';
import { planPrune } from './lifecycle.js';
import { checkpointData } from './checkpoint-data.js';
import { deltaChannelHistory, toTuple, type TupleContext } from './tuples.js';

/** Options of {@link DgentSaver.prune}. */
export interface PruneOptions {
  /** checkpoints to keep per namespace, newest first (>= 1) */
  keepLatest: number;
}

/** Options of {@link DgentSaver.copyThread}. */
export interface CopyThreadOptions {
  /** copy only this checkpoint and its ancestors (a fork); default: every checkpoint */
  checkpointId?: string | undefined;
  /** namespace of `checkpointId` (default '') */
  checkpointNs?: string | undefined;
}

/** A LangGraph checkpointer on a dgent EventLog. See the module documentation. */
export class DgentSaver extends BaseCheckpointSaver {
  private readonly logReady: Promise<EventLog>;
  private readonly ownsLog: boolean;
  private readonly names: StreamNames;
  private readonly ttlMs: number | undefined;
  private readonly now: () => number;
  private readonly threads: LRUCache<string, ThreadState>;
  private readonly values: Promise<ValueStore>;
  private closed = false;

  constructor(options: DgentSaverOptions) {
    checkCommon(options);
    super(options.serde);
    const { log, owned } = openLog(options);
    this.logReady = log;
    this.ownsLog = owned;
    this.names = new StreamNames(options.prefix ?? 'lg:');
    this.ttlMs = options.ttlMs;
    this.now = options.now ?? Date.now;
    this.threads = new LRUCache({ max: options.maxCachedThreads ?? 1000 });
    const valueOptions = { inlineMaxBytes: options.inlineMaxBytes ?? 256, snapshotEvery: options.snapshotEvery ?? 512, maxRanges: 8, cacheSize: options.valueCacheSize ?? 64, inlineTailMaxBytes: 4096, textCacheSize: 16 };
    this.values = log.then((l) => new ValueStore(l, () => this.serde, valueOptions));
    this.values.catch(() => undefined);
  }

  /** The log this saver writes to. */
  log(): Promise<EventLog> {
    return this.logReady;
  }

  // ---------------------------------------------------------------- reads

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const threadId = threadOf(config);
    if (threadId === undefined) return undefined;
    const ns = nsOf(config);
    const state = await this.read(threadId);
    if (this.expired(state)) return undefined;
    const id = config.configurable?.checkpoint_id as string | undefined;
    const entry = id ? state.index.get(ns, id) : state.index.latest(ns);
    if (!entry) return undefined;
    return this.toTuple(threadId, state, entry, true);
  }

  async *list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options ?? {};
    let limit = options?.limit;
    const threadId = threadOf(config);
    const nsFilter = config.configurable?.checkpoint_ns as string | undefined;
    const idFilter = config.configurable?.checkpoint_id as string | undefined;
    const beforeId = before?.configurable?.checkpoint_id as string | undefined;
    const threadIds = threadId !== undefined ? [threadId] : await this.allThreads();
    for (const t of threadIds) {
      const state = await this.read(t);
      if (this.expired(state)) continue;
      const nss = nsFilter !== undefined ? [nsFilter] : [...state.index.cps.keys()];
      const entries = nss.flatMap((ns) => state.index.sorted(ns)).sort((a, b) => (a.data.id < b.data.id ? 1 : a.data.id > b.data.id ? -1 : 0));
      for (const entry of entries) {
        if (idFilter && entry.data.id !== idFilter) continue;
        if (beforeId && entry.data.id >= beforeId) continue;
        if (filter && Object.keys(filter).length > 0) {
          const metadata = (await this.load(entry.data.m)) as Record<string, unknown>;
          if (!Object.entries(filter).every(([k, v]) => isDeepStrictEqual(metadata?.[k], v))) continue;
        }
        if (limit !== undefined) {
          if (limit <= 0) return;
          limit -= 1;
        }
        yield await this.toTuple(t, state, entry, false);
      }
    }
  }

  /**
   * The writes and seed a DeltaChannel needs, walking the parent chain in the index (no read per
   * ancestor): writes oldest to newest in LangGraph's order, the seed read once per channel.
   */
  override async getDeltaChannelHistory(options: { config: RunnableConfig; channels: string[] }): Promise<Record<string, DeltaChannelHistory>> {
    const { config, channels } = options;
    if (channels.length === 0) return {};
    const threadId = threadOf(config);
    if (threadId === undefined) return Object.fromEntries(channels.map((ch) => [ch, { writes: [] }]));
    const ns = nsOf(config);
    return deltaChannelHistory(await this.tupleContext(), await this.read(threadId), config, ns, channels);
  }

  // ---------------------------------------------------------------- writes

  async put(config: RunnableConfig, checkpoint: Checkpoint, metadata: CheckpointMetadata, newVersions: ChannelVersions): Promise<RunnableConfig> {
    const threadId = threadOf(config);
    if (threadId === undefined) throw new ValidationError('DgentSaver.put: config.configurable.thread_id is required (pass { configurable: { thread_id } } to the graph)');
    const ns = nsOf(config);
    const parentId = config.configurable?.checkpoint_id as string | undefined;
    const state = this.state(threadId);
    // (counted at once: a flush due meanwhile leaves the pending writes to this put)
    state.putsWaiting += 1;
    try {
      // (in the mutex at once: puts and putWrites of a thread are stored in the order they were called)
      return await state.mutex.run(async () => this.putLocked(state, await this.values, threadId, ns, parentId, { checkpoint, metadata, newVersions }));
    } finally {
      state.putsWaiting -= 1;
      if (state.pending.length > 0) this.scheduleFlush(state);
    }
  }

  /** put, holding the thread's mutex: the held writes of the parent go into the checkpoint's event. */
  private async putLocked(state: ThreadState, values: ValueStore, threadId: string, ns: string, parentId: string | undefined, input: { checkpoint: Checkpoint; metadata: CheckpointMetadata; newVersions: ChannelVersions }): Promise<RunnableConfig> {
    await this.ensureLoaded(state);
    const taken = held.take(state, ns, parentId);
    try {
      const rev = state.index.rev + 1;
      const { data, parent, arrays } = await checkpointData(
        { serde: this.serde, values, state, valueStream: (ch) => this.names.values(threadId, ns, ch), parentWrites: held.preview(state, taken, rev) },
        { ...input, ns, parentId },
      );
      const ctx = { dict: state.index.dict, parent: parent?.data, parentVer: parent?.ver, stream: state.index.stream, rev };
      const event =
        taken.length > 0
          ? { type: BATCH, data: encodeBatch(taken.map((p) => p.data), { data, ctx }, state.index.dict, (n) => state.index.newestId(n), state.index.taskContext) }
          : { type: CHECKPOINT_C, data: encodeCheckpoint(data, ctx) };
      const revision = await this.appendThread(state, [event]);
      const entry = taken.length > 0 ? state.index.foldBatch(event.data, revision)! : state.index.foldCheckpoint(event.data, revision);
      state.index.lastWrite = this.now();
      for (const [ch, value] of arrays) {
        const ref = entry.refs[ch];
        if (ref) remember(state, `${ns}\0${ch}`, values.remember({ ref, arr: value, len: value.length }));
      }
      held.settle(taken);
      return { configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: input.checkpoint.id } };
    } catch (e) {
      held.settle(taken, e);
      throw e;
    }
  }

  /**
   * Pending writes are not appended at once: they wait (until the next turn of the event loop, or
   * the put of the next checkpoint when one is already called) for the checkpoint LangGraph puts
   * right after a step's writes, and go into that checkpoint's event (one event instead of two; see
   * codec.ts). The promise resolves once they are stored, as before; any read of the thread by this
   * saver (getTuple, list, ...) stores them first.
   */
  async putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void> {
    const threadId = threadOf(config);
    if (threadId === undefined) throw new ValidationError('DgentSaver.putWrites: config.configurable.thread_id is required');
    const cp = config.configurable?.checkpoint_id as string | undefined;
    if (cp === undefined) throw new ValidationError('DgentSaver.putWrites: config.configurable.checkpoint_id is required');
    const ns = nsOf(config);
    const state = this.state(threadId);
    // serialised now (LangGraph may change the objects afterwards: its reducers add ids to messages),
    // stored in the mutex entered at once: puts and putWrites of a thread are stored in call order
    const serialised = Promise.all(
      writes.map(async ([channel, value], i): Promise<[string, number, Stored]> => [channel, WRITES_IDX_MAP[channel] ?? i, toStored(await this.serde.dumpsTyped(value))]),
    );
    serialised.catch(() => undefined); // (awaited in the mutex)
    const pending = await state.mutex.run(async () => {
      const w = await serialised;
      await this.ensureLoaded(state);
      const existing = state.index.cps.get(ns)?.get(cp)?.writes;
      const holding = held.heldIndexes(state, ns, cp, taskId);
      // a regular write already stored (or held) stays (LangGraph's rule); do not store it twice
      const fresh = w.filter(([, idx]) => idx < 0 || !(existing?.has(`${taskId},${idx}`) || holding.has(idx)));
      if (fresh.length === 0) return undefined;
      const stored = held.hold(state, { ns, cp, task: taskId, path: taskPath ?? '', w: shareInput(state.index.get(ns, cp), fresh) });
      this.scheduleFlush(state);
      return { stored }; // (wrapped: the mutex must not wait for it)
    });
    await pending?.stored;
  }

  async deleteThread(threadId: string): Promise<void> {
    await this.lifecycleAppend(String(threadId), { type: DELETED, data: {} });
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Keep the newest `keepLatest` checkpoints of each namespace of a thread, and everything they
   * and a pending interrupt need (the checkpoint waiting on it, the ancestors a DeltaChannel
   * rebuilds from); hide the rest. Resolves to the number of checkpoints removed.
   */
  async prune(threadId: string, options: PruneOptions): Promise<number> {
    const keep = options?.keepLatest;
    if (!Number.isInteger(keep) || keep < 1) throw new ValidationError(`DgentSaver.prune: keepLatest must be an integer >= 1, got ${shown(keep)}`);
    const state = this.state(String(threadId));
    return state.mutex.run(async () => {
      await this.flushPending(state, false);
      await this.catchUp(state.index);
      state.loaded = true;
      const delta = new Map<IndexedCheckpoint, string[]>();
      for (const m of state.index.cps.values()) {
        for (const c of m.values()) {
          if (!c.data) continue;
          const meta = (await this.load(c.data.m)) as CheckpointMetadata | undefined;
          delta.set(c, Object.keys(meta?.counters_since_delta_snapshot ?? {}));
        }
      }
      const ids = planPrune(state.index, keep, (c) => delta.get(c) ?? []);
      if (ids.length === 0) return 0;
      await this.appendThread(state, [{ type: PRUNED, data: { ids } }]);
      for (const [ns, id] of ids) state.index.cps.get(ns)?.delete(id);
      return ids.length;
    });
  }

  /**
   * Set a thread's time to live after its last write (`null`: never expires; overrides the saver's
   * `ttlMs`). An expired thread reads as deleted, unless it waits on an interrupt.
   */
  async setThreadTtl(threadId: string, ttlMs: number | null): Promise<void> {
    if (ttlMs !== null && (!Number.isFinite(ttlMs) || ttlMs <= 0)) throw new ValidationError(`DgentSaver.setThreadTtl: ttlMs must be a number > 0 or null, got ${shown(ttlMs)}`);
    await this.lifecycleAppend(String(threadId), { type: TTL, data: { ms: ttlMs } });
  }

  /** Whether a thread has expired (it reads as deleted); false while it waits on an interrupt. */
  async isExpired(threadId: string): Promise<boolean> {
    return this.expired(await this.read(String(threadId)));
  }

  /**
   * Copy a thread (or, with `checkpointId`, fork it: that checkpoint and its ancestors) to a new
   * thread. Nothing is copied but one link event: the copy references the source's checkpoints as
   * of now and their values. Resolves to the config of the newest copied checkpoint.
   */
  async copyThread(sourceThreadId: string, targetThreadId: string, options: CopyThreadOptions = {}): Promise<RunnableConfig | undefined> {
    const source = await this.read(String(sourceThreadId));
    if (this.expired(source)) throw new ValidationError(`DgentSaver.copyThread: thread ${JSON.stringify(sourceThreadId)} has expired`);
    let only: [string, string][] | undefined;
    let latest: IndexedCheckpoint | undefined;
    if (options.checkpointId !== undefined) {
      const ns = options.checkpointNs ?? '';
      latest = source.index.get(ns, options.checkpointId);
      if (!latest) throw new ValidationError(`DgentSaver.copyThread: checkpoint ${JSON.stringify(options.checkpointId)} not found in thread ${JSON.stringify(sourceThreadId)}`);
      only = [];
      for (let c: IndexedCheckpoint | undefined = latest; c; c = c.data.p ? source.index.get(ns, c.data.p) : undefined) only.push([ns, c.data.id]);
    } else {
      latest = source.index.latest('');
    }
    const target = this.state(String(targetThreadId));
    await target.mutex.run(async () => {
      await this.flushPending(target, false);
      await this.ensureLoaded(target);
      if (target.index.size() > 0) throw new ValidationError(`DgentSaver.copyThread: target thread ${JSON.stringify(targetThreadId)} already has checkpoints`);
      const data: LinkData = { from: source.index.stream, upTo: source.index.rev, only };
      await this.appendThread(target, [{ type: LINK, data }]);
      target.loaded = false;
      target.index.rev -= 1; // fold our own link event
      await this.catchUp(target.index);
      target.loaded = true;
    });
    if (!latest) return undefined;
    return { configurable: { thread_id: String(targetThreadId), checkpoint_ns: latest.data.ns, checkpoint_id: latest.data.id } };
  }

  /** Fork the thread of `config` at its checkpoint into `targetThreadId` (see copyThread). */
  async fork(config: RunnableConfig, targetThreadId: string): Promise<RunnableConfig | undefined> {
    const threadId = threadOf(config);
    const id = config.configurable?.checkpoint_id as string | undefined;
    if (threadId === undefined || id === undefined) throw new ValidationError('DgentSaver.fork: config needs configurable.thread_id and configurable.checkpoint_id');
    return this.copyThread(threadId, targetThreadId, { checkpointId: id, checkpointNs: nsOf(config) });
  }

  /** Close the log when this saver opened it ({ path } or { connectionString }). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.threads.values()) if (state.pending.length > 0) await state.mutex.run(() => this.flushPending(state, false));
    if (this.ownsLog) await (await this.logReady).close();
  }

  // ---------------------------------------------------------------- internals

  private state(threadId: string): ThreadState {
    let s = this.threads.get(threadId);
    if (!s) {
      s = { index: new ThreadIndex(this.names.thread(threadId), (ns, ch) => this.names.values(threadId, ns, ch)), mutex: new Mutex(), loaded: false, known: new Map(), pending: [], flushScheduled: false, putsWaiting: 0 };
      this.threads.set(threadId, s);
    }
    return s;
  }

  /** Store the held writes of a thread (see held-writes.ts); inside its mutex. */
  private flushPending(state: ThreadState, rethrow: boolean): Promise<void> {
    const append: held.AppendThread = async (s, events) => {
      const revision = await this.appendThread(s, events);
      s.index.lastWrite = this.now();
      return revision;
    };
    return held.flush(state, append, rethrow);
  }

  private scheduleFlush(state: ThreadState): void {
    held.scheduleFlush(state, () => state.mutex.run(() => this.flushPending(state, false)));
  }

  /** The thread, caught up with the log (a read also lets this saver write after another writer). */
  private async read(threadId: string): Promise<ThreadState> {
    const state = this.state(threadId);
    await state.mutex.run(async () => {
      await this.flushPending(state, false);
      await this.catchUp(state.index);
      state.loaded = true;
    });
    return state;
  }

  private async catchUp(index: ThreadIndex): Promise<void> {
    await catchUpWith(await this.logReady, index, this.names.streamsOf);
  }

  private async ensureLoaded(state: ThreadState): Promise<void> {
    if (state.loaded) return;
    await this.catchUp(state.index);
    state.loaded = true;
  }

  /** Append to the thread stream, fenced: the revision must be the one this saver last saw. */
  private async appendThread(state: ThreadState, events: { type: string; data: unknown }[]): Promise<number> {
    const log = await this.logReady;
    const res = await log.append(
      state.index.stream,
      events.map((e) => ({ ...e, id: newEventId() })),
      { expectedRevision: state.index.rev },
    );
    state.index.rev = res.revision;
    return res.revision;
  }

  private async lifecycleAppend(threadId: string, event: { type: string; data: unknown }): Promise<void> {
    const state = this.state(threadId);
    await state.mutex.run(async () => {
      await this.flushPending(state, false);
      await this.catchUp(state.index);
      await this.appendThread(state, [event]);
      state.index.rev -= 1;
      await this.catchUp(state.index); // fold it the way a reader would
      state.loaded = true;
      if (event.type === DELETED) state.known.clear();
    });
  }

  private expired(state: ThreadState): boolean {
    const ttl = state.index.ttlMs !== undefined ? state.index.ttlMs : this.ttlMs;
    if (ttl === null || ttl === undefined || state.index.lastWrite === 0) return false;
    if (this.now() < state.index.lastWrite + ttl) return false;
    return !state.index.hasPendingInterrupt();
  }

  private async allThreads(): Promise<string[]> {
    const log = await this.logReady;
    const seen = new Set<string>();
    for await (const e of log.readAll({ types: [CHECKPOINT, CHECKPOINT_C, BATCH, LINK] })) {
      const t = this.names.threadOf(e.stream);
      if (t !== undefined) seen.add(t);
    }
    return [...seen];
  }

  private load(s: Stored): Promise<unknown> {
    return this.serde.loadsTyped(...fromStoredArgs(s));
  }

  private async tupleContext(): Promise<TupleContext> {
    return { serde: this.serde, values: await this.values, nextVersion: () => this.getNextVersion(undefined) };
  }

  private async toTuple(threadId: string, state: ThreadState, entry: IndexedCheckpoint, rememberValues: boolean): Promise<CheckpointTuple> {
    return toTuple(await this.tupleContext(), threadId, state, entry, rememberValues);
  }
}
