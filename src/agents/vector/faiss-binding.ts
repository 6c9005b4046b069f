/**
 * Lazy loading of faiss-node, the optional native dependency of `dgent/vector`.
 *
 * Only the slice of the binding dgent uses is declared here, so the core never imports its types.
 * The binding converts JS arrays element by element and lets FAISS's C++ exceptions abort the
 * process from add/train/search/removeIds, so callers must only call what cannot throw: add
 * after training, train with enough points, remove_ids only on index types that implement it.
 */
import { createRequire } from 'node:module';
import { BackendUnavailableError } from '../../core/errors.js';

/** The methods of a faiss-node index that dgent calls. */
export interface FaissIndex {
  ntotal(): number;
  getDimension(): number;
  isTrained(): boolean;
  add(x: number[]): void;
  train(x: number[]): void;
  search(x: number[], k: number): { distances: number[]; labels: number[] };
  removeIds(ids: number[]): number;
  toBuffer(): Buffer;
}

/** The slice of the faiss-node module dgent uses. */
export interface FaissBinding {
  Index: {
    fromFactory(dims: number, descriptor: string, metric?: number): FaissIndex;
    fromBuffer(src: Buffer): FaissIndex;
  };
  MetricType: { METRIC_INNER_PRODUCT: number; METRIC_L2: number };
}

let loaded: { binding: FaissBinding } | { error: unknown } | undefined;
let warned = false;

/** faiss-node, or undefined when it is not installed or its native binding does not load. Cached. */
export function loadFaiss(): FaissBinding | undefined {
  if (loaded === undefined) {
    // FAISS's OpenMP threads spin while idle by default; on a shared or busy machine that spinning
    // makes a single-query search 10-50x slower. libgomp reads this when faiss-node's binding is
    // loaded, so it is set here (only when the user has not chosen a policy).
    process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
    try {
      const req = createRequire(import.meta.url);
      loaded = { binding: req('faiss-node') as FaissBinding };
    } catch (e) {
      loaded = { error: e };
    }
  }
  return 'binding' in loaded ? loaded.binding : undefined;
}

/** faiss-node, or BackendUnavailableError saying why it cannot be loaded. */
export function requireFaiss(): FaissBinding {
  const b = loadFaiss();
  if (b) return b;
  const e = (loaded as { error: unknown }).error;
  throw new BackendUnavailableError(
    'faiss-node',
    `cannot load faiss-node (${(e as Error)?.message ?? String(e)}); install it and build its binding (scripts/build-faiss.sh), or use engine: 'js'`,
    { cause: e },
  );
}

/** Warn once per process that the TypeScript flat index stands in for FAISS. */
export function warnNoFaiss(): void {
  if (warned) return;
  warned = true;
  const e = loaded && 'error' in loaded ? (loaded.error as Error)?.message : 'not loaded';
  process.emitWarning(`faiss-node is not available (${e}); dgent/vector falls back to an exact TypeScript flat index`, {
    code: 'DGENT_VECTOR_NO_FAISS',
  });
}

/** True when faiss-node is installed and its native binding loads (so `engine: 'auto'` uses FAISS). */
export function faissAvailable(): boolean {
  return loadFaiss() !== undefined;
}
