/**
 * The in-memory state of a VectorAgent: the item table, the FAISS index mirroring it (or none
 * for the TypeScript engine) and the log revision applied. The agent builds a new state for
 * `rebuild()` and swaps it in only when complete, so a failed rebuild leaves the old one working.
 */
import { CorruptionError, ValidationError } from '../../core/errors.js';
import { exactSearch, type SlotHits } from './exact-search.js';
import type { FaissSlotIndex } from './faiss-index.js';
import { encodeIndexFile, type IndexFileContent, type IndexFileHeader } from './index-file.js';
import { ItemTable } from './item-table.js';
import type { VectorOp } from './log-events.js';
import type { VectorMetric } from './types.js';

/** Settings a state needs from the agent. */
export interface StateSettings {
  dimension: number;
  metric: VectorMetric;
  /** trained indexes train once this many items are live */
  trainSize: number;
  compactRatio: number;
}

/** Table + index + applied log revision. */
export class VectorState<T> {
  readonly table: ItemTable<T>;
  /** log revision this state reflects (0 without a log) */
  revision = 0;

  constructor(
    private readonly s: StateSettings,
    /** FAISS index, or undefined for the exact TypeScript engine */
    readonly ann: FaissSlotIndex | undefined,
  ) {
    this.table = new ItemTable<T>(s.dimension);
  }

  /** Restore from a decoded file. `annFromFile` says whether `ann` was restored from the file's FAISS bytes. */
  loadFile(c: IndexFileContent, annFromFile: boolean, location: string): void {
    const d = this.s.dimension;
    for (let slot = 0; slot < c.items.length; slot++) {
      const it = c.items[slot]!;
      const v = c.vectors.subarray(slot * d, (slot + 1) * d);
      if (it === null) this.table.appendDead(v);
      else if (this.table.has(it[0])) throw new CorruptionError(`vector index file lists id ${JSON.stringify(it[0])} twice`, location);
      else this.table.append(it[0], v, it[1] as T | undefined);
    }
    this.revision = c.header.logRevision ?? 0;
    if (this.ann && annFromFile) {
      const n = this.ann.ntotal;
      if (this.ann.trained ? n !== this.table.size : n !== 0) {
        throw new CorruptionError(`saved FAISS index holds ${n} vectors, the item table ${this.table.size}`, location);
      }
    }
    this.syncIndex();
  }

  /** The index file's bytes: every slot (tombstones too, so FAISS labels stay aligned), FAISS bytes when in step. */
  toFile(header: Omit<IndexFileHeader, 'sections' | 'format' | 'slots'>): Buffer {
    const t = this.table;
    const items: IndexFileContent['items'] = [];
    for (let slot = 0; slot < t.size; slot++) {
      const id = t.idAt(slot);
      const data = t.dataAt(slot);
      items.push(id === null ? null : data === undefined ? [id] : [id, data]);
    }
    const ann = this.ann?.toBytes();
    return encodeIndexFile({
      header: { ...header, slots: t.size },
      items,
      vectors: t.range(0, t.size),
      faiss: this.ann?.trained && this.ann.ntotal === t.size ? ann?.index : undefined,
      template: ann?.template,
    });
  }

  /** Apply a checked write. `add` of a live id replaces it, as `upsert` does (only reachable by replay). */
  apply(op: VectorOp): void {
    const t = this.table;
    if (op.op === 'remove') {
      for (const id of op.ids) t.kill(id);
    } else {
      const { ids, vectors, data } = op.batch;
      const d = this.s.dimension;
      for (let i = 0; i < ids.length; i++) {
        t.kill(ids[i]!);
        t.append(ids[i]!, vectors.subarray(i * d, (i + 1) * d), data[i] as T | undefined);
      }
      this.syncIndex();
    }
    this.maybeCompact();
  }

  /** Bring FAISS up to the table: train once enough items exist, then add the slots it lacks. */
  private syncIndex(): void {
    const ann = this.ann;
    const t = this.table;
    if (!ann) return;
    if (!ann.trained) {
      if (t.live < Math.max(this.s.trainSize, ann.spec.minTrain)) return;
      t.compact();
      ann.train(t.range(0, t.size));
    }
    if (ann.ntotal < t.size) ann.add(t.range(ann.ntotal, t.size));
  }

  private maybeCompact(): void {
    const t = this.table;
    if (t.dead === 0) return;
    if (t.live === 0 || (t.dead >= 16 && t.dead >= t.size * this.s.compactRatio)) this.compact();
  }

  /** Drop tombstones; FAISS is re-created from its empty (trained) template and re-filled. */
  compact(): void {
    this.table.compact();
    if (this.ann?.trained) {
      this.ann.reset();
      this.ann.add(this.table.range(0, this.table.size));
    }
  }

  /** Compact, (re)train a trained index on every live vector (needs `minTrain` of them), refill. */
  build(): void {
    const t = this.table;
    t.compact();
    const ann = this.ann;
    if (!ann) return;
    if (ann.needsTraining) {
      if (t.live < ann.spec.minTrain) throw new ValidationError(`index ${ann.spec.factory} needs at least ${ann.spec.minTrain} vectors to train, has ${t.live}`);
      ann.train(t.range(0, t.size));
    } else ann.reset();
    ann.add(t.range(0, t.size));
  }

  /** Best `k` live slots for `q` (checked, normalised), best first. */
  search(q: Float32Array, k: number, filter?: (slot: number) => boolean): SlotHits {
    const t = this.table;
    const ann = this.ann;
    if (t.live === 0) return { slots: [], scores: [] };
    if (!ann || !ann.trained || ann.ntotal !== t.size) return exactSearch(t, this.s.metric, q, k, filter);
    const total = ann.ntotal;
    // over-fetch in proportion to the tombstones (and more when a filter rejects candidates)
    let fetch = Math.min(total, t.dead === 0 && !filter ? k : Math.ceil((k * t.size) / t.live) + k);
    for (;;) {
      const r = ann.search(q, fetch);
      const slots: number[] = [];
      const scores: number[] = [];
      for (let i = 0; i < r.labels.length && slots.length < k; i++) {
        const slot = r.labels[i]!;
        if (slot < 0 || t.idAt(slot) === null || (filter && !filter(slot))) continue;
        slots.push(slot);
        scores.push(r.distances[i]!);
      }
      if (slots.length === k || fetch >= total) return { slots, scores };
      fetch = Math.min(total, fetch * 4);
    }
  }
}
