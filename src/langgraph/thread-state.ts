/**
 * Per-thread state of a DgentSaver and the small functions around it: config parsing, the writes
 * of a checkpoint in LangGraph's order, and what a new array version may extend.
 */
import type { RunnableConfig } from '@langchain/core/runnables';
import { compareWritesSortKeys, writesSortKey } from '@langchain/langgraph-checkpoint';
import type { Mutex } from '../core/mutex.js';
import type { Stored, WritesData } from './records.js';
import { addTo, type IndexedCheckpoint, type IndexedWrite, type ThreadIndex } from './thread-index.js';
import type { KnownArray, WriteSource, WritesResolver } from './values.js';

export interface ThreadState {
  index: ThreadIndex;
  mutex: Mutex;
  loaded: boolean;
  /** recent array versions per `${ns}\0${channel}`, newest first: what a new version may extend */
  known: Map<string, KnownArray[]>;
  /** pending writes not stored yet, in call order: they go into the event of the next checkpoint (see DgentSaver.putWrites) */
  pending: PendingWrites[];
  /** a flush of `pending` is scheduled (next turn of the event loop) */
  flushScheduled: boolean;
  /** puts called and not yet done (each takes the pending writes of its parent, then schedules a flush of the rest) */
  putsWaiting: number;
}

/** One putWrites call's writes, held until the next put (or the next turn of the event loop), and its caller. */
export interface PendingWrites {
  data: WritesData;
  resolve: () => void;
  reject: (e: unknown) => void;
}

const KNOWN_PER_CHANNEL = 4;

export function threadOf(config: RunnableConfig): string | undefined {
  const t = config?.configurable?.thread_id as unknown;
  return t === undefined || t === null ? undefined : String(t);
}

export function nsOf(config: RunnableConfig): string {
  return (config?.configurable?.checkpoint_ns as string | undefined) ?? '';
}

export function fromStoredArgs(s: Stored): [string, Uint8Array | string] {
  return [s.t, s.s ?? s.b ?? new Uint8Array()];
}

/** The writes of a checkpoint in LangGraph's order (task path, task id, index). */
export function sortedWrites(entry: IndexedCheckpoint): IndexedWrite[] {
  return sortWrites(entry.writes.values());
}

function sortWrites(writes: Iterable<IndexedWrite>): IndexedWrite[] {
  return [...writes]
    .map((w) => ({ w, key: writesSortKey(w.path, w.task, w.idx) }))
    .sort((a, b) => compareWritesSortKeys(a.key, b.key))
    .map(({ w }) => w);
}

/** The known version `value` extends the most of (longest prefix), if any. */
export function pickKnown(value: readonly unknown[], list: readonly KnownArray[]): KnownArray | undefined {
  let best: KnownArray | undefined;
  for (const k of list) {
    if (k.len > value.length || (best && k.len <= best.len)) continue;
    let ok = true;
    for (let i = 0; i < k.len; i += 1) if (value[i] !== k.arr[i]) { ok = false; break; }
    if (ok) best = k;
  }
  return best;
}

export function resolver(state: ThreadState): WritesResolver {
  return (stream, revision) => state.index.writesAt.get(`${stream}#${revision}`);
}

/**
 * The parent's pending writes to `ch`, in LangGraph's order, as elements an appended value may
 * reference; `pending`: writes of the parent stored in the same event as the checkpoint.
 */
export function writeSource(parent: IndexedCheckpoint | undefined, ch: string, pending?: readonly IndexedWrite[]): WriteSource | undefined {
  if (!parent) return undefined;
  const out: WriteSource = { elements: [], refs: [] };
  let all = parent.writes;
  if (pending && pending.length > 0) addTo((all = new Map(all)), pending);
  for (const w of sortWrites(all.values())) {
    if (w.channel !== ch) continue;
    if (w.value.s === undefined || w.at[2] < 0) return undefined;
    const v = JSON.parse(w.value.s) as unknown;
    const elements = Array.isArray(v) ? v : [v];
    elements.forEach((e, i) => {
      out.elements.push(e);
      out.refs.push([w.at[0], w.at[1], w.at[2], i]);
    });
  }
  return out.elements.length > 0 ? out : undefined;
}

export function remember(state: ThreadState, key: string, known: KnownArray): void {
  const list = (state.known.get(key) ?? []).filter((k) => k.arr !== known.arr || k.len !== known.len);
  list.unshift(known);
  state.known.set(key, list.slice(0, KNOWN_PER_CHANNEL));
}

/**
 * Writes whose text is that of a key of an inline channel value of their checkpoint (the graph
 * input, which the __start__ task writes on key by key) are stored as a reference to it.
 */
export function shareInput(cp: IndexedCheckpoint | undefined, w: [string, number, Stored][]): [string, number, Stored][] {
  if (!cp) return w;
  const parts = new Map<string, [string, string]>();
  for (const [ch, ref] of Object.entries(cp.refs)) {
    if (!('i' in ref) || ref.i.t !== 'json' || ref.i.s === undefined) continue;
    const v = JSON.parse(ref.i.s) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    for (const [k, part] of Object.entries(v)) parts.set(JSON.stringify(part), [ch, k]);
  }
  if (parts.size === 0) return w;
  return w.map(([ch, idx, s]) => {
    const at = s.t === 'json' && s.s !== undefined ? parts.get(s.s) : undefined;
    return at ? [ch, idx, { t: s.t, c: at }] : [ch, idx, s];
  });
}
