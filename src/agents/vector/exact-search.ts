/**
 * Exact k-nearest-neighbour search over the item table in TypeScript: the fallback engine when
 * FAISS is absent, and the search path of a trained index that has not been trained yet.
 */
import type { ItemTable } from './item-table.js';
import type { VectorMetric } from './types.js';
import { better, scoreAt } from './vectors.js';

/** Slots and scores of the best `k` live items, best first. */
export interface SlotHits {
  slots: number[];
  scores: number[];
}

/**
 * Scan every live slot, keep the best `k` in a bounded heap (root = worst kept). `filter` runs
 * only on candidates that would enter the heap, so a costly filter is called rarely.
 * Ties keep the lower slot (the earlier insertion).
 */
export function exactSearch<T>(
  table: ItemTable<T>,
  metric: VectorMetric,
  q: Float32Array,
  k: number,
  filter?: (slot: number) => boolean,
): SlotHits {
  const heapSlots: number[] = [];
  const heapScores: number[] = [];
  const data = table.vectors;
  const d = table.dimension;
  // worse(a, b): a ranks after b; equal scores: the higher slot ranks after
  const worse = (i: number, j: number): boolean =>
    heapScores[i] === heapScores[j] ? heapSlots[i]! > heapSlots[j]! : better(metric, heapScores[j]!, heapScores[i]!);
  const swap = (i: number, j: number): void => {
    [heapSlots[i], heapSlots[j]] = [heapSlots[j]!, heapSlots[i]!];
    [heapScores[i], heapScores[j]] = [heapScores[j]!, heapScores[i]!];
  };
  const siftDown = (i: number): void => {
    const n = heapSlots.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && worse(l, m)) m = l;
      if (r < n && worse(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  const size = table.size;
  for (let s = 0; s < size; s++) {
    if (table.idAt(s) === null) continue;
    const score = scoreAt(metric, q, data, s * d);
    if (heapSlots.length === k) {
      // slots ascend, so an equal score never displaces the kept (earlier) slot
      if (!better(metric, score, heapScores[0]!)) continue;
      if (filter && !filter(s)) continue;
      heapSlots[0] = s;
      heapScores[0] = score;
      siftDown(0);
    } else {
      if (filter && !filter(s)) continue;
      heapSlots.push(s);
      heapScores.push(score);
      for (let i = heapSlots.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!worse(i, p)) break;
        swap(i, p);
        i = p;
      }
    }
  }
  const order = heapSlots.map((_, i) => i);
  order.sort((a, b) => (heapScores[a] === heapScores[b] ? heapSlots[a]! - heapSlots[b]! : better(metric, heapScores[a]!, heapScores[b]!) ? -1 : 1));
  return { slots: order.map((i) => heapSlots[i]!), scores: order.map((i) => heapScores[i]!) };
}
