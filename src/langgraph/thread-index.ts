/**
 * The in-memory index of one thread: its checkpoints per namespace, their pending writes, its TTL,
 * and the thread stream's revision it reflects. Built by folding the thread stream (and, for a
 * copied or forked thread, the stream it links to as of the link's revision); kept current by
 * folding only the events appended since (one read). The index holds references to channel values,
 * never the values themselves.
 */
import { INTERRUPT } from '@langchain/langgraph-checkpoint';
import { CorruptionError } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { BATCH, CHECKPOINT, CHECKPOINT_C, DELETED, LINK, PRUNED, TTL, WRITES, WRITES_C } from './records.js';
import type { CheckpointData, LinkData, MapDiff, PrunedData, Range, Stored, TtlData, ValueRef, WritesData } from './records.js';
import { decodeCheckpoint, decodeWrites, Dict, splitBatch, unpackId, type TaskContext } from './codec.js';
import type { ChannelVersions } from '@langchain/langgraph-checkpoint';

type ChannelVersion = ChannelVersions[string];

function versionKey(ns: string, ch: string, v: ChannelVersion | undefined): string {
  return `${ns}\0${ch}\0${typeof v}:${String(v)}`;
}

/** One pending write. */
export interface IndexedWrite {
  task: string;
  channel: string;
  idx: number;
  path: string;
  value: Stored;
  /** where it is stored: thread stream, revision of the writes event, index in its `w` */
  at: [stream: string, revision: number, index: number];
}

/** One checkpoint as the index knows it: its event, and its maps resolved against its parent's. */
export interface IndexedCheckpoint {
  data: CheckpointData;
  ver: Record<string, ChannelVersion>;
  seen: Record<string, Record<string, ChannelVersion>>;
  refs: Record<string, ValueRef>;
  /** `${task},${idx}` -> write */
  writes: Map<string, IndexedWrite>;
}

/** The thread's own value stream of a namespace and channel (what '' stands for in stored ranges). */
export type ValueStreamOf = (ns: string, channel: string) => string;

function applyDiff<T>(base: Record<string, T> | undefined, diff: MapDiff<T>, full: boolean): Record<string, T> {
  const out: Record<string, T> = full || !base ? {} : { ...base };
  for (const k of diff.d ?? []) delete out[k];
  if (diff.s) for (const [k, v] of Object.entries(diff.s)) out[k] = v;
  return out;
}

/** The changes that turn `base` into `next` (compared by value). */
export function diffMap<T>(base: Record<string, T>, next: Record<string, T>, same: (a: T, b: T) => boolean): MapDiff<T> {
  const out: MapDiff<T> = {};
  for (const [k, v] of Object.entries(next)) {
    if (Object.hasOwn(base, k) && same(base[k] as T, v)) continue;
    (out.s ??= {})[k] = v;
  }
  for (const k of Object.keys(base)) if (!Object.hasOwn(next, k)) (out.d ??= []).push(k);
  return out;
}

export class ThreadIndex {
  /** revision of the thread stream this index reflects (the revision the next append expects) */
  rev = 0;
  readonly cps = new Map<string, Map<string, IndexedCheckpoint>>();
  /** TTL set on the thread (undefined: the saver's default) */
  ttlMs: number | null | undefined;
  /** time of the last checkpoint or writes event (ms since epoch), 0 when none */
  lastWrite = 0;
  /**
   * Every writes event folded, by `${stream}#${revision}` (also those of pruned checkpoints and, for
   * a copy, of the source thread): appended values may be stored as references to them.
   */
  readonly writesAt = new Map<string, WritesData>();
  /** `${ns}\0${channel}\0${version}` -> where that version of the channel's value is stored */
  private readonly versionRefs = new Map<string, ValueRef>();
  /** names of this thread stream's compact events (never cleared: an encoding table, not data) */
  readonly dict = new Dict();

  constructor(
    readonly stream: string,
    readonly valueStream: ValueStreamOf,
  ) {}

  namespace(ns: string): Map<string, IndexedCheckpoint> {
    let m = this.cps.get(ns);
    if (!m) this.cps.set(ns, (m = new Map()));
    return m;
  }

  /** A checkpoint (not a placeholder holding only early writes). */
  get(ns: string, id: string): IndexedCheckpoint | undefined {
    const c = this.cps.get(ns)?.get(id);
    return c?.data ? c : undefined;
  }

  /** The newest checkpoint of a namespace (checkpoint ids are time-ordered uuid6). */
  latest(ns: string): IndexedCheckpoint | undefined {
    const id = this.newest.get(ns);
    const hit = id !== undefined ? this.get(ns, id) : undefined;
    if (hit) return hit;
    let best: IndexedCheckpoint | undefined;
    for (const c of this.cps.get(ns)?.values() ?? []) if (c.data && (!best || c.data.id > best.data.id)) best = c;
    return best;
  }

  /** Checkpoints of a namespace, newest first. */
  sorted(ns: string): IndexedCheckpoint[] {
    return [...(this.cps.get(ns)?.values() ?? [])].filter((c) => c.data !== undefined).sort((a, b) => (a.data.id < b.data.id ? 1 : a.data.id > b.data.id ? -1 : 0));
  }

  size(): number {
    let n = 0;
    for (const m of this.cps.values()) for (const c of m.values()) if (c.data) n += 1;
    return n;
  }

  /** Fold a checkpoint event: resolve its maps against its parent (present: the writer saw the same index). */
  addCheckpoint(stored: CheckpointData): IndexedCheckpoint {
    // p '' is "the newest checkpoint of the namespace" when it was written (the writer saw this index)
    const data = stored.p === '' ? { ...stored, p: this.newest.get(stored.ns) } : stored;
    const parent = data.p !== undefined ? this.get(data.ns, data.p) : undefined;
    const full = data.full === true || !parent;
    const refs = applyDiff(parent?.refs, data.refs, full);
    for (const [ch, ref] of Object.entries(data.refs.s ?? {})) {
      // an append: the parent's value of the channel (as the writer saw it) plus the items
      refs[ch] = '+' in ref ? { b: (full ? undefined : parent?.refs[ch]) ?? null, w: ref.w, a: ref.a, v: ref.v } : this.absolute(data.ns, ch, ref);
    }
    const entry: IndexedCheckpoint = {
      data,
      ver: applyDiff(parent?.ver, data.ver, full),
      seen: applyDiff(parent?.seen, data.vs, full),
      refs,
      // a checkpoint put again keeps the writes already stored against it
      writes: this.cps.get(data.ns)?.get(data.id)?.writes ?? new Map(),
    };
    this.insert(entry);
    return entry;
  }

  /** The resolved parent a checkpoint written now with parent `p` ('' = newest) has. */
  parentOf(ns: string, p: string | undefined): IndexedCheckpoint | undefined {
    const id = p === '' ? this.newest.get(ns) : p;
    return id !== undefined ? this.get(ns, id) : undefined;
  }

  /** Fold a compact checkpoint event (the writer folds its own the same way). */
  foldCheckpoint(raw: unknown, revision: number): IndexedCheckpoint {
    const r = raw as { n?: string; p?: string | null };
    const ns = r.n ?? '';
    // the parent as the encoder saw it: decode needs it for ts, metadata and appends
    const parent = r.p === null ? undefined : this.parentOf(ns, r.p === undefined ? '' : unpackId(r.p));
    return this.addCheckpoint(decodeCheckpoint(raw, { dict: this.dict, parent: parent?.data, parentVer: parent?.ver, stream: this.stream, rev: revision }));
  }

  /** What a compact writes event of checkpoint `cp` may derive its task id from (see codec.ts). */
  readonly taskContext = (ns: string, cp: string): TaskContext | undefined => {
    const c = this.get(ns, cp);
    const m = c?.data.m;
    if (!c || m?.t !== 'json' || m.s === undefined) return undefined;
    const step = (JSON.parse(m.s) as { step?: unknown } | null)?.step;
    return typeof step === 'number' ? { step: step + 1, channels: Object.keys(c.ver) } : undefined;
  };

  /** Fold a compact writes event. */
  foldWrites(raw: unknown, revision: number): WritesData {
    const d = decodeWrites(raw, this.dict, (ns) => this.newest.get(ns), this.stream, this.taskContext);
    this.addWrites(d, revision);
    return d;
  }

  /** id of the newest checkpoint per namespace (kept as checkpoints are folded; prune keeps the newest) */
  private readonly newest = new Map<string, string>();

  /** The id `p: ''` stands for in a checkpoint written now. */
  newestId(ns: string): string | undefined {
    return this.newest.get(ns);
  }

  private insert(entry: IndexedCheckpoint): void {
    const { ns, id } = entry.data;
    this.namespace(ns).set(id, entry);
    const n = this.newest.get(ns);
    if (n === undefined || id > n) this.newest.set(ns, id);
    for (const [ch, ref] of Object.entries(entry.refs)) this.versionRefs.set(versionKey(ns, ch, entry.ver[ch]), ref);
  }

  /** A stored reference with '' (own value stream) replaced by the stream's name. */
  private absolute(ns: string, ch: string, ref: ValueRef): ValueRef {
    if (!('r' in ref) || ref.r.every((r) => r[0] !== '')) return ref;
    return { ...ref, r: ref.r.map((r): Range => (r[0] === '' ? [this.valueStream(ns, ch), r[1], r[2]] : r)) };
  }

  /**
   * Where `version` of a channel is stored, for a checkpoint that did not change it: the parent's
   * reference when the parent has that version, else any checkpoint's of this namespace.
   */
  refAt(ns: string, ch: string, version: ChannelVersion | undefined, parentId: string | undefined): ValueRef | undefined {
    const parent = parentId ? this.get(ns, parentId) : undefined;
    if (parent && parent.ver[ch] === version && parent.refs[ch]) return parent.refs[ch];
    return this.versionRefs.get(versionKey(ns, ch, version));
  }

  /** Forget everything (the thread was deleted). */
  clear(): void {
    this.cps.clear();
    this.newest.clear();
    this.writesAt.clear();
    this.versionRefs.clear();
    this.ttlMs = undefined;
  }

  /**
   * Fold pending writes stored at `revision`. A batch event holds several (one per task): they are
   * one list at that revision (what a stored reference's write index counts in), in event order.
   */
  addWrites(stored: WritesData, revision: number): void {
    const key = `${this.stream}#${revision}`;
    const before = this.writesAt.get(key);
    const { data: d, writes } = this.previewWrites(stored, revision, before?.w.length ?? 0);
    this.writesAt.set(key, before ? { ...before, w: [...before.w, ...d.w] } : d);
    let cp = this.cps.get(d.ns)?.get(d.cp);
    if (!cp) {
      // writes may arrive for a checkpoint this thread does not hold (LangGraph allows it); keep them
      // under a placeholder so that a later put of that checkpoint finds them
      cp = { data: undefined as unknown as CheckpointData, ver: {}, seen: {}, refs: {}, writes: new Map() };
      this.namespace(d.ns).set(d.cp, cp);
    }
    addTo(cp.writes, writes);
  }

  /**
   * Pending writes as they will be folded at `revision`, `offset` writes into that revision's list,
   * without folding them (a writer encoding a checkpoint that references writes of its own event).
   */
  previewWrites(stored: WritesData, revision: number, offset = 0): { data: WritesData; writes: IndexedWrite[] } {
    const d = this.resolveWrites(stored);
    const writes = d.w.map(([channel, idx, value]): IndexedWrite => ({ task: d.task, channel, idx, path: d.path, value, at: [this.stream, revision, offset + d.w.findIndex((x) => x[1] === idx && x[0] === channel)] }));
    return { data: d, writes };
  }

  /** Fold a batch event: its new names, its writes in order, then its checkpoint (if any). */
  foldBatch(raw: unknown, revision: number): IndexedCheckpoint | undefined {
    const { names, writes, checkpoint } = splitBatch(raw, this.stream);
    for (const n of names) this.dict.add(n);
    for (const w of writes) this.foldWrites(w, revision);
    return checkpoint ? this.foldCheckpoint(checkpoint, revision) : undefined;
  }

  /**
   * Writes stored as a part of their checkpoint's inline channel value (`c`: [channel, key]: the
   * graph input the __start__ task writes on) are given their text back from that value.
   */
  private resolveWrites(d: WritesData): WritesData {
    if (!d.w.some((w) => w[2].c)) return d;
    const cp = this.get(d.ns, d.cp);
    return {
      ...d,
      w: d.w.map(([ch, idx, v]): [string, number, Stored] => {
        if (!v.c) return [ch, idx, v];
        const ref = cp?.refs[v.c[0]];
        const text = ref && 'i' in ref && ref.i.s !== undefined ? JSON.stringify((JSON.parse(ref.i.s) as Record<string, unknown>)[v.c[1]]) : undefined;
        if (text === undefined) throw new CorruptionError(`pending write ${d.task} references ${v.c.join('.')} of checkpoint ${d.cp}, which this thread does not hold`, this.stream);
        return [ch, idx, { t: v.t, s: text }];
      }),
    };
  }

  /** Whether the latest checkpoint of some namespace waits on an interrupt. */
  hasPendingInterrupt(): boolean {
    for (const ns of this.cps.keys()) {
      const l = this.latest(ns);
      if (l && [...l.writes.values()].some((w) => w.channel === INTERRUPT)) return true;
    }
    return false;
  }

  copyFrom(other: ThreadIndex, only?: Set<string>): void {
    for (const [k, v] of other.writesAt) this.writesAt.set(k, v);
    for (const [ns, m] of other.cps) {
      for (const [id, c] of m) {
        if (c.data === undefined) continue;
        if (only && !only.has(`${ns}\0${id}`)) continue;
        this.insert({ ...c, writes: new Map(c.writes) });
      }
    }
  }
}

/**
 * Add writes to a checkpoint's: regular writes (idx >= 0) are idempotent, the first one stays;
 * special ones (errors, interrupts: negative idx) replace.
 */
export function addTo(map: Map<string, IndexedWrite>, writes: readonly IndexedWrite[]): void {
  for (const w of writes) {
    const key = `${w.task},${w.idx}`;
    if (w.idx >= 0 && map.has(key)) continue;
    map.set(key, w);
  }
}

/** How to name a linked thread's value streams, from its thread stream. */
export type ValueStreamsOf = (threadStream: string) => ValueStreamOf;

/** Fold events of the thread stream into `index` (a link reads the stream it points to). */
export async function applyEvents(log: EventLog, index: ThreadIndex, events: readonly RecordedEvent[], streamsOf: ValueStreamsOf, depth = 0): Promise<void> {
  for (const e of events) {
    index.rev = Math.max(index.rev, e.revision);
    switch (e.type) {
      case CHECKPOINT:
        index.addCheckpoint(e.data as CheckpointData);
        index.lastWrite = e.time.getTime();
        break;
      case WRITES:
        index.addWrites(e.data as WritesData, e.revision);
        index.lastWrite = e.time.getTime();
        break;
      case CHECKPOINT_C:
        index.foldCheckpoint(e.data, e.revision);
        index.lastWrite = e.time.getTime();
        break;
      case WRITES_C:
        index.foldWrites(e.data, e.revision);
        index.lastWrite = e.time.getTime();
        break;
      case BATCH:
        index.foldBatch(e.data, e.revision);
        index.lastWrite = e.time.getTime();
        break;
      case DELETED:
        index.clear();
        break;
      case PRUNED:
        for (const [ns, id] of (e.data as PrunedData).ids) index.cps.get(ns)?.delete(id);
        break;
      case TTL:
        index.ttlMs = (e.data as TtlData).ms;
        break;
      case LINK: {
        const link = e.data as LinkData;
        if (depth > 64) throw new Error(`thread ${index.stream}: links nested deeper than 64`);
        const source = await loadIndex(log, link.from, streamsOf, link.upTo, depth + 1);
        index.copyFrom(source, link.only ? new Set(link.only.map(([ns, id]) => `${ns}\0${id}`)) : undefined);
        index.lastWrite = e.time.getTime();
        break;
      }
      default:
        break;
    }
  }
}

/** Build the index of a thread stream from the start (up to `upTo` when given). */
export async function loadIndex(log: EventLog, stream: string, streamsOf: ValueStreamsOf, upTo?: number, depth = 0): Promise<ThreadIndex> {
  const index = new ThreadIndex(stream, streamsOf(stream));
  await catchUp(log, index, streamsOf, upTo, depth);
  return index;
}

/** Fold the events appended to the thread stream since `index.rev` (one read when nothing is new). */
export async function catchUp(log: EventLog, index: ThreadIndex, streamsOf: ValueStreamsOf, upTo?: number, depth = 0): Promise<void> {
  const batch: RecordedEvent[] = [];
  for await (const e of log.read(index.stream, { fromRevision: index.rev + 1, toRevision: upTo })) batch.push(e as RecordedEvent);
  if (batch.length > 0) await applyEvents(log, index, batch, streamsOf, depth);
}
