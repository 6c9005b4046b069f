/**
 * Pending writes held for the next checkpoint's event (format 3, see codec.ts). LangGraph stores a
 * step's writes, then puts the next checkpoint at once; holding the writes until that put (or the
 * next turn of the event loop) stores both in one event, which saves the log's per-event cost. A
 * putWrites call still resolves only once its writes are stored.
 */
import { BATCH, WRITES_C, type WritesData } from './records.js';
import { encodeBatch, encodeWrites } from './codec.js';
import type { IndexedWrite } from './thread-index.js';
import type { PendingWrites, ThreadState } from './thread-state.js';

/** Appends events to the thread stream, fenced; resolves to the revision of the last. */
export type AppendThread = (state: ThreadState, events: { type: string; data: unknown }[]) => Promise<number>;

/** Hold writes; the promise settles when they are stored (or fail to be). */
export function hold(state: ThreadState, data: WritesData): Promise<void> {
  return new Promise<void>((resolve, reject) => state.pending.push({ data, resolve, reject }));
}

/** Indexes of the writes of a task to a checkpoint held now. */
export function heldIndexes(state: ThreadState, ns: string, cp: string, task: string): Set<number> {
  return new Set(state.pending.filter((p) => p.data.ns === ns && p.data.cp === cp && p.data.task === task).flatMap((p) => p.data.w.map(([, idx]) => idx)));
}

/** Take the held writes of checkpoint `cp` (in call order) for the event of the checkpoint put after it. */
export function take(state: ThreadState, ns: string, cp: string | undefined): PendingWrites[] {
  const taken = state.pending.filter((p) => p.data.ns === ns && p.data.cp === cp);
  state.pending = state.pending.filter((p) => !taken.includes(p));
  return taken;
}

/** The taken writes as the index will hold them once the event is folded at `rev`. */
export function preview(state: ThreadState, taken: readonly PendingWrites[], rev: number): IndexedWrite[] {
  const out: IndexedWrite[] = [];
  let offset = 0;
  for (const { data } of taken) {
    const { data: d, writes } = state.index.previewWrites(data, rev, offset);
    out.push(...writes);
    offset += d.w.length;
  }
  return out;
}

/** Settle the putWrites calls of taken writes: stored, or failed with `error`. */
export function settle(taken: readonly PendingWrites[], error?: unknown): void {
  for (const p of taken) {
    if (error === undefined) p.resolve();
    else p.reject(error);
  }
}

/**
 * Store the held writes that no put took (a run that ended on an interrupt or an error, writes of a
 * checkpoint other than the newest): one event, a format 2 writes event when they are one call's.
 * Inside the thread's mutex. Errors go to the putWrites calls waiting, and to the caller if `rethrow`.
 */
export async function flush(state: ThreadState, append: AppendThread, rethrow: boolean): Promise<void> {
  const taken = state.pending;
  if (taken.length === 0) return;
  state.pending = [];
  try {
    const { index } = state;
    if (taken.length === 1) {
      const raw = encodeWrites(taken[0]!.data, index.dict, index.newestId(taken[0]!.data.ns));
      index.foldWrites(raw, await append(state, [{ type: WRITES_C, data: raw }]));
    } else {
      const raw = encodeBatch(taken.map((p) => p.data), undefined, index.dict, (n) => index.newestId(n), index.taskContext);
      index.foldBatch(raw, await append(state, [{ type: BATCH, data: raw }]));
    }
    settle(taken);
  } catch (e) {
    settle(taken, e);
    if (rethrow) throw e;
  }
}

/**
 * Store the held writes on the next turn of the event loop, unless a put is under way: LangGraph
 * calls put within the same turn (microtasks) after a step's writes, or has called it already, and
 * a put schedules this again for what it leaves.
 */
export function scheduleFlush(state: ThreadState, run: () => Promise<void>): void {
  if (state.flushScheduled) return;
  state.flushScheduled = true;
  setImmediate(() => {
    state.flushScheduled = false;
    if (state.pending.length === 0 || state.putsWaiting > 0) return;
    void run();
  });
}
