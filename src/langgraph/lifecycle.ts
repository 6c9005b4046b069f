/**
 * What `prune` may remove. Kept: the newest `keepLatest` checkpoints of each namespace (so the
 * checkpoint a pending interrupt waits on, always the newest of its namespace, stays with its
 * writes), and what a kept checkpoint needs to be read and resumed: for each channel a DeltaChannel
 * rebuilds from ancestors (listed in the metadata's `counters_since_delta_snapshot`), the ancestors
 * up to and including the one holding its seed. Channel values live in value streams that pruning
 * never touches, so a kept checkpoint's values stay readable whatever is removed.
 */
import type { IndexedCheckpoint, ThreadIndex } from './thread-index.js';

/** [namespace, checkpoint id] of the checkpoints to remove. */
export function planPrune(index: ThreadIndex, keepLatest: number, deltaChannels: (c: IndexedCheckpoint) => readonly string[] = () => []): [string, string][] {
  const remove: [string, string][] = [];
  for (const ns of index.cps.keys()) {
    const sorted = index.sorted(ns);
    const keep = new Set<string>();
    for (const c of sorted.slice(0, keepLatest)) {
      keep.add(c.data.id);
      const pending = new Set(deltaChannels(c).filter((ch) => c.refs[ch] === undefined));
      for (let a = c.data.p ? index.get(ns, c.data.p) : undefined; a && pending.size > 0; a = a.data.p ? index.get(ns, a.data.p) : undefined) {
        keep.add(a.data.id);
        for (const ch of [...pending]) if (a.refs[ch] !== undefined) pending.delete(ch);
      }
    }
    for (const c of sorted) if (!keep.has(c.data.id)) remove.push([ns, c.data.id]);
  }
  return remove;
}
