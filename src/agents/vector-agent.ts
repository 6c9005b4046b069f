/**
 * VectorAgent: semantic memory on FAISS. Items with stable string ids, a vector and optional data
 * are added, upserted, removed and searched by similarity; the index is saved to one file, and in
 * logged mode every write is first appended to an EventLog, so the log is the source of truth and
 * the file is a cache that `rebuild()` (or a missing file on open) recreates from it.
 *
 * - Scores: `'l2'` squared Euclidean distance (ascending), `'ip'` inner product and `'cosine'`
 *   cosine similarity (descending). Cosine vectors are normalised when added.
 * - Indexes: `'Flat'` exact, `'HNSW'` (`HNSW<M>`), `'IVF'` (`IVF<nlist>,Flat`, trained on the first
 *   `trainSize` items or on `build()`; until then searches are exact), or a FAISS factory string.
 * - Removal leaves a tombstone that searches skip; once `compactRatio` of the slots are dead the
 *   index is compacted (FAISS re-filled from its empty trained template). Ids never move.
 * - Without faiss-node (`engine: 'auto'`) an exact TypeScript flat index is used, with one warning.
 *
 * @example
 * ```ts
 * import { VectorAgent } from 'dgent/vector';
 * const memory = new VectorAgent<{ text: string }>({ dimension: 384, metric: 'cosine', index: 'HNSW', path: './memory.vec' });
 * await memory.add([{ id: 'm1', vector: embedding, data: { text: 'the user likes tea' } }]);
 * const hits = await memory.search(queryEmbedding, { k: 5 });
 * await memory.save();
 * ```
 */
import { checkFilePath } from '../core/atomic-file.js';
import { prepare } from '../core/codec.js';
import { ClosedError, CorruptionError, StateNotFoundError, ValidationError, shown } from '../core/errors.js';
import { Mutex } from '../core/mutex.js';
import type { EventLog } from '../streams/event-log.js';
import { loadFaiss, requireFaiss, warnNoFaiss } from './vector/faiss-binding.js';
import { FaissSlotIndex, parseIndexSpec, type FaissParams, type IndexSpec } from './vector/faiss-index.js';
import { readIndexFile, writeIndexFile, type IndexFileContent } from './vector/index-file.js';
import { eventToOp, opToEvents, type VectorOp } from './vector/log-events.js';
import { checkOptions, checkIds, checkItems, type CheckedOptions } from './vector/options.js';
import type { StoredVector, VectorAgentOptions, VectorHit, VectorInput, VectorItem, VectorSearchOptions } from './vector/types.js';
import { VectorState } from './vector/vector-state.js';
import { ProgressMeter } from './stream/progress-meter.js';
import type { RebuildOptions } from '../projections/runner/types.js';
import { toFloat32 } from './vector/vectors.js';

/** Semantic memory: add/upsert/remove/search over vectors with stable string ids. */
export class VectorAgent<T = unknown> {
  readonly dimension: number;
  readonly metric: VectorAgentOptions['metric'];
  /** the `index` option ('Flat' by default) */
  readonly index: string;
  /** the engine in use: FAISS, or the exact TypeScript flat index */
  readonly engine: 'faiss' | 'js';
  private readonly o: CheckedOptions;
  private readonly spec: IndexSpec;
  private readonly params: FaissParams;
  private readonly log: EventLog | undefined;
  private state: VectorState<T>;
  private opening: Promise<void> | undefined;
  /** set once opening has succeeded, so searches skip awaiting it */
  private opened = false;
  private preloaded: IndexFileContent | undefined;
  private readonly mutex = new Mutex();
  private closed = false;

  constructor(options: VectorAgentOptions) {
    this.o = checkOptions(options);
    this.dimension = this.o.dimension;
    this.metric = this.o.metric;
    this.index = this.o.index;
    this.log = options.log;
    this.spec = parseIndexSpec(this.o.index, this.o.hnswM, this.o.nlist);
    this.params = { efConstruction: this.o.efConstruction, efSearch: this.o.efSearch, nprobe: this.o.nprobe };
    if (this.o.engine === 'js') this.engine = 'js';
    else if (this.o.engine === 'faiss') {
      requireFaiss();
      this.engine = 'faiss';
    } else if (loadFaiss()) this.engine = 'faiss';
    else {
      warnNoFaiss();
      this.engine = 'js';
    }
    // creating the first state also makes FAISS check the factory string now
    this.state = this.newState();
  }

  /**
   * Open a saved agent. Options not given (dimension, metric, index, stream) come from the file;
   * a missing file gives an empty agent when `dimension` and `metric` are given, else
   * StateNotFoundError. A damaged file is a CorruptionError.
   */
  static async open<T = unknown>(path: string, options: Partial<Omit<VectorAgentOptions, 'path'>> = {}): Promise<VectorAgent<T>> {
    const file = checkFilePath(path);
    const content = await readIndexFile(file.path);
    if (!content) {
      if (options.dimension === undefined || options.metric === undefined) throw new StateNotFoundError(`no vector index file at ${file.path}`, file.path);
      const agent = new VectorAgent<T>({ ...(options as VectorAgentOptions), path });
      await agent.ready();
      return agent;
    }
    const h = content.header;
    const base: VectorAgentOptions = { dimension: h.dimension, metric: h.metric, index: h.index, ...(h.stream !== undefined ? { stream: h.stream } : {}) };
    // an option given as undefined (exactOptionalPropertyTypes allows it) means "from the file", not "unset"
    const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
    const agent = new VectorAgent<T>({ ...base, ...given, path });
    agent.preloaded = content;
    await agent.ready();
    return agent;
  }

  /** Add new items. An id already stored, a repeated id, an empty id or a bad vector → ValidationError; nothing is written. */
  add(items: readonly VectorItem<T>[]): Promise<void> {
    return this.write(() => ({ op: 'add', batch: checkItems(items, this.o, this.state.table, true) }));
  }

  /** Add items or replace the stored items with the same ids. */
  upsert(items: readonly VectorItem<T>[]): Promise<void> {
    return this.write(() => ({ op: 'upsert', batch: checkItems(items, this.o, this.state.table, false) }));
  }

  /** Remove items by id; unknown ids are ignored. Resolves with the number removed. */
  async remove(ids: readonly string[]): Promise<number> {
    let n = 0;
    await this.write(() => {
      const present = [...new Set(checkIds(ids))].filter((id) => this.state.table.has(id));
      n = present.length;
      return present.length > 0 ? { op: 'remove', ids: present } : undefined;
    });
    return n;
  }

  /** The `k` best items for `query`, best first (see the metric for what `score` means). */
  async search(query: VectorInput, options: VectorSearchOptions<T> = {}): Promise<VectorHit<T>[]> {
    if (this.closed || !this.opened) await this.ready();
    const k = options.k ?? 10;
    if (!Number.isInteger(k) || k < 1) throw new ValidationError(`k must be an integer >= 1, got ${shown(k)}`);
    if (options.filter !== undefined && typeof options.filter !== 'function') throw new ValidationError('filter must be a function');
    const q = toFloat32(query, this.dimension, this.metric, '$query');
    const t = this.state.table;
    const f = options.filter;
    const { slots, scores } = this.state.search(q, k, f ? (slot) => f(t.idAt(slot)!, this.out(t.dataAt(slot))) : undefined);
    return slots.map((slot, i) => ({ id: t.idAt(slot)!, score: scores[i]!, data: this.out(t.dataAt(slot)) }));
  }

  /** The stored item (vector normalised under cosine), or undefined. */
  async get(id: string): Promise<StoredVector<T> | undefined> {
    await this.ready();
    const slot = this.state.table.slotOf(id);
    if (slot === undefined) return undefined;
    return { id, vector: this.state.table.vectorAt(slot).slice(), data: this.out(this.state.table.dataAt(slot)) };
  }

  /** True when an item with this id is stored. */
  async has(id: string): Promise<boolean> {
    await this.ready();
    return this.state.table.has(id);
  }

  /** Number of stored items. */
  async count(): Promise<number> {
    await this.ready();
    return this.state.table.live;
  }

  /** The log revision the index reflects (0 without a log). */
  async revision(): Promise<number> {
    await this.ready();
    return this.state.revision;
  }

  /** Rebuild the index now: drop tombstones and, for trained kinds (IVF), train on every stored vector. */
  build(): Promise<void> {
    return this.exclusive(async () => this.state.build());
  }

  /** Write index and items to `path` atomically (temp file, fsync, rename, directory fsync). */
  save(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.o.path) throw new ValidationError('save() needs the path option');
      const s = this.state;
      const bytes = s.toFile({
        dimension: this.dimension,
        metric: this.metric,
        index: this.index,
        ...(this.log ? { stream: this.o.stream, logRevision: s.revision } : {}),
      });
      await writeIndexFile(this.o.path, bytes);
    });
  }

  /** Logged mode: apply the events other writers appended since this agent's revision. Resolves with how many. */
  sync(): Promise<number> {
    return this.exclusive(async () => this.catchUp(this.state));
  }

  /**
   * Logged mode: rebuild everything from the log (the whole stream), replacing the in-memory index when done.
   * `onProgress` receives `{ processed, total, eventsPerSecond, etaMs }` (total: the stream's revision
   * when the rebuild started) at most every `progressEveryMs`, and once at the end.
   */
  rebuild(options: RebuildOptions = {}): Promise<{ events: number; items: number }> {
    return this.exclusive(async () => {
      const fresh = this.newState();
      const meter = options.onProgress && this.log ? new ProgressMeter(this.o.stream, await this.log.revision(this.o.stream), options) : undefined;
      const events = await this.catchUp(fresh, meter);
      meter?.done();
      this.state = fresh;
      return { events, items: fresh.table.live };
    });
  }

  /** Stop accepting calls (the log, if any, stays open: its owner closes it). */
  async close(): Promise<void> {
    await this.mutex.run(async () => {
      this.closed = true;
    });
  }

  private newState(): VectorState<T> {
    const ann = this.engine === 'faiss' ? FaissSlotIndex.create(requireFaiss(), this.spec, this.dimension, this.metric, this.params) : undefined;
    return new VectorState<T>(this.o, ann);
  }

  /** Load the file (if any), then catch up from the log; retried on the next call after a failure. */
  private ready(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('VectorAgent'));
    this.opening ??= this.openNow().catch((e: unknown) => {
      this.opening = undefined;
      throw e;
    });
    return this.opening;
  }

  private async openNow(): Promise<void> {
    const location = this.o.path ? checkFilePath(this.o.path).path : '';
    const content = this.preloaded ?? (this.o.path ? await readIndexFile(location) : undefined);
    this.preloaded = undefined;
    const state = content ? this.stateFromFile(content, location) : this.newState();
    if (this.log) await this.catchUp(state);
    this.state = state;
    this.opened = true;
  }

  private stateFromFile(c: IndexFileContent, location: string): VectorState<T> {
    const h = c.header;
    const mismatch = (what: string, file: unknown, mine: unknown): never => {
      throw new ValidationError(`${location} holds ${what} ${JSON.stringify(file)}, this agent is configured for ${JSON.stringify(mine)}`);
    };
    if (h.dimension !== this.dimension) mismatch('dimension', h.dimension, this.dimension);
    if (h.metric !== this.metric) mismatch('metric', h.metric, this.metric);
    if (this.log && h.stream !== undefined && h.stream !== this.o.stream) mismatch('stream', h.stream, this.o.stream);
    // FAISS bytes are used only when they were built for the same index; otherwise re-indexed from the vectors
    const reuse = this.engine === 'faiss' && c.faiss !== undefined && h.index === this.index;
    const ann = reuse
      ? FaissSlotIndex.restore(requireFaiss(), this.spec, this.dimension, this.metric, this.params, c.faiss!, c.template, location)
      : this.newState().ann;
    const state = new VectorState<T>(this.o, ann);
    state.loadFile(c, reuse, location);
    return state;
  }

  /** Apply the log's events after `state.revision` to `state`. */
  private async catchUp(state: VectorState<T>, meter?: ProgressMeter): Promise<number> {
    const log = this.log;
    if (!log) throw new ValidationError('this VectorAgent has no log');
    const stream = this.o.stream;
    const head = await log.revision(stream);
    if (head < state.revision) {
      throw new CorruptionError(`the index reflects revision ${state.revision} of stream ${JSON.stringify(stream)} but the log holds only ${head}; delete the index file to rebuild from the log`, stream);
    }
    let n = 0;
    if (head === state.revision) return 0;
    for await (const e of log.read(stream, { fromRevision: state.revision + 1 })) {
      if (e.revision !== state.revision + 1) throw new CorruptionError(`expected revision ${state.revision + 1}, read ${e.revision}`, stream);
      state.apply(eventToOp(e, this.dimension));
      state.revision = e.revision;
      n++;
      meter?.step();
    }
    return n;
  }

  /** One write: check (inside the lock), log it first in logged mode, then apply. */
  private write(check: () => VectorOp | undefined): Promise<void> {
    return this.exclusive(async () => {
      const op = check();
      // an empty batch is a no-op: nothing to log (logs reject empty appends) or index
      if (!op || (op.op === 'remove' ? op.ids : op.batch.ids).length === 0) return;
      if (this.log) {
        const r = await this.log.append(this.o.stream, opToEvents(op, this.dimension), { expectedRevision: this.state.revision });
        this.state.apply(op);
        this.state.revision = r.revision;
      } else this.state.apply(op);
    });
  }

  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.mutex.run(async () => {
      await this.ready();
      return fn();
    });
  }

  /** Data as handed out: frozen values as stored; values holding bytes copied (bytes cannot be frozen). */
  private out(data: T | undefined): T | undefined {
    return data === undefined ? undefined : prepare(data).value;
  }
}
