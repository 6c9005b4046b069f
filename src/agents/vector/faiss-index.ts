/**
 * The FAISS side of the VectorAgent: a faiss-node index whose labels are the item table's slots.
 *
 * faiss-node's `add` numbers vectors 0, 1, 2, ... and exposes no `add_with_ids`, and FAISS 1.7.3
 * cannot remove from HNSW at all (its C++ exception would abort the process through the
 * binding). So dgent never calls `removeIds`: removal is a tombstone in the item table, searches
 * skip tombstones, and compaction re-creates the index from an empty template (trained, for
 * IVF) and re-adds the live vectors in slot order. Labels therefore never shift under a live item.
 *
 * faiss-node has no parameter setters either. HNSW's efConstruction/efSearch and IVF's nprobe
 * are fields of FAISS's serialised format, so they are set by patching those fields in
 * `toBuffer()` bytes and reading the index back (once, on an empty index or at load).
 */
import { CorruptionError, ValidationError } from '../../core/errors.js';
import type { FaissBinding, FaissIndex } from './faiss-binding.js';
import type { VectorMetric } from './types.js';
import { toNumbers } from './vectors.js';

/** A parsed `index` option. */
export interface IndexSpec {
  kind: 'flat' | 'hnsw' | 'ivf' | 'custom';
  /** FAISS index-factory string */
  factory: string;
  /** the fewest training points FAISS accepts (1 when no training is needed) */
  minTrain: number;
}

/** Search/build parameters patched into the serialised index. */
export interface FaissParams {
  efConstruction: number;
  efSearch: number;
  nprobe: number;
}

/** Turn the `index` option into a factory string. */
export function parseIndexSpec(index: string, hnswM: number, nlist: number): IndexSpec {
  if (typeof index !== 'string' || index.trim() === '') throw new ValidationError('index must be Flat, HNSW, IVF or a FAISS factory string');
  if (index === 'Flat') return { kind: 'flat', factory: 'Flat', minTrain: 1 };
  if (index === 'HNSW') return { kind: 'hnsw', factory: `HNSW${hnswM}`, minTrain: 1 };
  if (index === 'IVF') return { kind: 'ivf', factory: `IVF${nlist},Flat`, minTrain: nlist };
  if (/^HNSW\d+(_?Flat)?$/.test(index)) return { kind: 'hnsw', factory: index, minTrain: 1 };
  const ivf = /IVF(\d+)/.exec(index);
  const lists = ivf ? Number(ivf[1]) : 1;
  const minTrain = Math.max(lists, /PQ/.test(index) ? 256 : 1);
  return { kind: /^IVF\d+,Flat$/.test(index) ? 'ivf' : 'custom', factory: index, minTrain };
}

function faissMetric(faiss: FaissBinding, metric: VectorMetric): number {
  return metric === 'l2' ? faiss.MetricType.METRIC_L2 : faiss.MetricType.METRIC_INNER_PRODUCT;
}

/**
 * Patch HNSW efConstruction/efSearch and IVF nprobe in serialised FAISS 1.7.3 bytes (in place).
 * Layout: fourcc, d:i32, ntotal:i64, 2 x i64, is_trained:u8, metric:i32 [, metric_arg:f32];
 * IVF: nlist:u64, nprobe:u64; HNSW: five size-prefixed vectors, then entry_point, max_level,
 * efConstruction, efSearch, upper_beam (i32). Unknown formats are left alone.
 */
export function patchParams(buf: Buffer, p: Partial<FaissParams>): void {
  if (buf.length < 37) return;
  const fourcc = buf.toString('latin1', 0, 4);
  let o = 33;
  const metric = buf.readInt32LE(o);
  o += 4 + (metric > 1 ? 4 : 0);
  if (fourcc.startsWith('Iw') && p.nprobe !== undefined && o + 16 <= buf.length) {
    const nlist = Number(buf.readBigUInt64LE(o));
    buf.writeBigUInt64LE(BigInt(Math.max(1, Math.min(p.nprobe, nlist))), o + 8);
    return;
  }
  if (!fourcc.startsWith('IHN')) return;
  for (const elem of [8, 4, 4, 8, 4]) {
    if (o + 8 > buf.length) return;
    o += 8 + Number(buf.readBigUInt64LE(o)) * elem;
  }
  if (o + 20 > buf.length) return;
  if (p.efConstruction !== undefined) buf.writeInt32LE(p.efConstruction, o + 8);
  if (p.efSearch !== undefined) buf.writeInt32LE(p.efSearch, o + 12);
}

const ADD_CHUNK = 8192;

/** A FAISS index aligned with the item table: label = slot. */
export class FaissSlotIndex {
  private index: FaissIndex;
  /** true for kinds FAISS must train before adding (IVF, PQ, ...) */
  readonly needsTraining: boolean;
  /** bytes of an empty index, trained when the kind needs training; compaction starts from it */
  private template: Buffer | undefined;
  // isTrained() and ntotal() are native calls; searches read them several times, so they are
  // mirrored here and refreshed by every method that replaces or grows the index
  private isTrained = false;
  private count = 0;
  /** the query as the plain array faiss-node takes, reused by every search (the binding copies it synchronously) */
  private readonly query: number[];

  private constructor(
    private readonly faiss: FaissBinding,
    readonly spec: IndexSpec,
    readonly dimension: number,
    readonly metric: VectorMetric,
    readonly params: FaissParams,
    index: FaissIndex,
    template: Buffer | undefined,
  ) {
    this.index = index;
    this.template = template;
    this.query = new Array<number>(dimension).fill(0);
    this.refresh();
    this.needsTraining = !FaissSlotIndex.fresh(faiss, spec, dimension, metric, params).index.isTrained();
  }

  /** A new empty index. Throws ValidationError when FAISS rejects the factory string. */
  static create(faiss: FaissBinding, spec: IndexSpec, dimension: number, metric: VectorMetric, params: FaissParams): FaissSlotIndex {
    const { index, bytes } = FaissSlotIndex.fresh(faiss, spec, dimension, metric, params);
    return new FaissSlotIndex(faiss, spec, dimension, metric, params, index, index.isTrained() ? bytes : undefined);
  }

  /** Restore a saved index (and its empty template); wrong bytes → CorruptionError. */
  static restore(
    faiss: FaissBinding,
    spec: IndexSpec,
    dimension: number,
    metric: VectorMetric,
    params: FaissParams,
    bytes: Uint8Array,
    template: Uint8Array | undefined,
    location: string,
  ): FaissSlotIndex {
    const read = (b: Uint8Array): FaissIndex => {
      const buf = Buffer.from(b); // a copy: patching must not touch the caller's bytes
      patchParams(buf, params);
      let ix: FaissIndex;
      try {
        ix = faiss.Index.fromBuffer(buf);
      } catch (e) {
        throw new CorruptionError(`FAISS cannot read the saved index: ${(e as Error).message}`, location, { cause: e });
      }
      if (ix.getDimension() !== dimension) throw new CorruptionError(`saved FAISS index has dimension ${ix.getDimension()}, expected ${dimension}`, location);
      return ix;
    };
    const index = read(bytes);
    const tpl = template && template.length > 0 ? read(template).toBuffer() : undefined;
    return new FaissSlotIndex(faiss, spec, dimension, metric, params, index, tpl);
  }

  private static fresh(faiss: FaissBinding, spec: IndexSpec, dimension: number, metric: VectorMetric, params: FaissParams): { index: FaissIndex; bytes: Buffer } {
    let index: FaissIndex;
    try {
      index = faiss.Index.fromFactory(dimension, spec.factory, faissMetric(faiss, metric));
    } catch (e) {
      throw new ValidationError(`FAISS rejects index ${JSON.stringify(spec.factory)}: ${(e as Error).message}`);
    }
    const bytes = index.toBuffer();
    patchParams(bytes, params);
    return { index: faiss.Index.fromBuffer(bytes), bytes };
  }

  get trained(): boolean {
    return this.isTrained;
  }

  /** vectors in the index (= table slots covered) */
  get ntotal(): number {
    return this.count;
  }

  private refresh(): void {
    this.isTrained = this.index.isTrained();
    this.count = this.index.ntotal();
  }

  /** Train an empty index on `vectors` (n * dimension). */
  train(vectors: Float32Array): void {
    const n = vectors.length / this.dimension;
    if (n < this.spec.minTrain) throw new ValidationError(`index ${this.spec.factory} needs at least ${this.spec.minTrain} vectors to train, has ${n}`);
    const { index } = FaissSlotIndex.fresh(this.faiss, this.spec, this.dimension, this.metric, this.params);
    index.train(toNumbers(vectors));
    this.index = index;
    this.template = index.toBuffer();
    this.refresh();
  }

  /** Append vectors (n * dimension); the index must be trained. */
  add(vectors: Float32Array): void {
    if (!this.isTrained) throw new Error('dgent internal: add to an untrained FAISS index');
    const step = ADD_CHUNK * this.dimension;
    try {
      for (let o = 0; o < vectors.length; o += step) this.index.add(toNumbers(vectors.subarray(o, Math.min(vectors.length, o + step))));
    } finally {
      this.refresh();
    }
  }

  /** Raw FAISS search: labels (slots, -1 for padding) and FAISS distances/similarities. */
  search(q: Float32Array, k: number): { labels: number[]; distances: number[] } {
    return this.index.search(toNumbers(q, this.query), Math.min(k, this.count));
  }

  /** Empty the index, keeping its training (template), or back to untrained when it was never trained. */
  reset(): void {
    if (this.template) this.index = this.faiss.Index.fromBuffer(this.template);
    else this.index = FaissSlotIndex.fresh(this.faiss, this.spec, this.dimension, this.metric, this.params).index;
    this.refresh();
  }

  /** Serialised index and empty template, for the index file. */
  toBytes(): { index: Buffer; template: Buffer | undefined } {
    return { index: this.index.toBuffer(), template: this.template };
  }
}
