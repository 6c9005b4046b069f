/**
 * Public types of the VectorAgent (`dgent/vector`).
 */
import type { EventLog } from '../../streams/event-log.js';

/**
 * How vectors are compared, and what `score` means in search results:
 * - `'l2'`: squared Euclidean distance, smaller is better (results ascending).
 * - `'ip'`: inner product, larger is better (results descending).
 * - `'cosine'`: cosine similarity in [-1, 1], larger is better; vectors are normalised to unit
 *   length when added (and the normalised vector is what is stored and logged).
 */
export type VectorMetric = 'l2' | 'ip' | 'cosine';

/**
 * Index kind: `'Flat'` (exact), `'HNSW'` (graph, approximate; FAISS `HNSW<M>`), `'IVF'` (inverted
 * lists, approximate, trained; FAISS `IVF<nlist>,Flat`), or any FAISS index-factory string such as
 * `'IVF256,PQ16'` or `'HNSW32,SQ8'`.
 */
export type VectorIndexKind = 'Flat' | 'HNSW' | 'IVF' | (string & {});

/**
 * Search backend: `'faiss'` (faiss-node, required), `'js'` (exact TypeScript flat index, whatever
 * `index` says), `'auto'` (FAISS when it loads, else the TypeScript index with a one-time warning).
 */
export type VectorEngine = 'faiss' | 'js' | 'auto';

/** A vector: a plain array or a Float32Array of `dimension` finite numbers. */
export type VectorInput = readonly number[] | Float32Array;

/** An item to add: a stable string id, its vector, and optional data (any codec value). */
export interface VectorItem<T> {
  id: string;
  vector: VectorInput;
  data?: T | undefined;
}

/** One search result. See {@link VectorMetric} for the meaning of `score`. */
export interface VectorHit<T> {
  id: string;
  score: number;
  data: T | undefined;
}

/** Options of `search`. */
export interface VectorSearchOptions<T> {
  /** how many results (default 10) */
  k?: number | undefined;
  /** keep only items for which this returns true (applied to candidates, so `k` results still come back when enough match) */
  filter?: ((id: string, data: T | undefined) => boolean) | undefined;
}

/** An item as stored (vector normalised for cosine). */
export interface StoredVector<T> {
  id: string;
  vector: Float32Array;
  data: T | undefined;
}

/** Options of `VectorAgent`. */
export interface VectorAgentOptions {
  /** vector length, fixed for the agent's life */
  dimension: number;
  metric: VectorMetric;
  /** index kind (default `'Flat'`) */
  index?: VectorIndexKind | undefined;
  /** backend (default `'auto'`) */
  engine?: VectorEngine | undefined;
  /** file that `save()` writes and that is loaded on first use when it exists */
  path?: string | undefined;
  /** event log: every add/upsert/remove is appended to it before it is applied (logged mode) */
  log?: EventLog | undefined;
  /** stream name in `log` (default `'vectors'`) */
  stream?: string | undefined;
  /** HNSW: neighbours per node, the `M` of `HNSW<M>` (default 32) */
  hnswM?: number | undefined;
  /** HNSW: candidate list size while building (default 80; FAISS's own default is 40) */
  efConstruction?: number | undefined;
  /** HNSW: candidate list size while searching (default 64; FAISS's own default is 16); raised to k when k is larger */
  efSearch?: number | undefined;
  /** IVF: number of inverted lists (default 128) */
  nlist?: number | undefined;
  /** IVF: lists visited per query (default 16; FAISS's own default is 1) */
  nprobe?: number | undefined;
  /** trained indexes: train once this many items are stored (default `39 * nlist`, FAISS's rule of thumb); `build()` trains earlier */
  trainSize?: number | undefined;
  /** compact (drop tombstones, rebuild where FAISS cannot remove) once this fraction of slots is dead (default 0.2) */
  compactRatio?: number | undefined;
}
