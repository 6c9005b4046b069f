/**
 * Synthetic data sets for bench/vector.bench.ts, seeded so every run sees the same vectors:
 * - `uniform`: coordinates uniform in [-1, 1]. No structure at all, the worst case for
 *   approximate search (every point is about as far from a query as every other).
 * - `clustered`: embedding-like. A Gaussian mixture of `clusters` centres; each cluster is spread
 *   along `intrinsic` random directions of its own with standard deviations decaying as
 *   spread * (j + 1)^-decay, plus small isotropic noise. So the data is clustered and of low
 *   effective dimension, as sentence/image embeddings are: with the defaults the spectrum spans all
 *   128 directions but its participation ratio (sum of variances)^2 / (sum of squared variances)
 *   is about 18. Queries come from the same mixture but are never in the index. It is synthetic:
 *   recall on real embeddings at the same efSearch can be lower or higher.
 */

/** A seeded uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded standard normal generator (Box-Muller). */
function gauss(seed: number): () => number {
  const u = rng(seed);
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const t = 2 * Math.PI * u();
    spare = r * Math.sin(t);
    return r * Math.cos(t);
  };
}

/** Indexed vectors and held-out queries. */
export interface Dataset {
  name: string;
  /** one line saying how the data was made */
  description: string;
  vectors: Float32Array[];
  queries: Float32Array[];
}

/** `n` vectors and `nq` queries, uniform in [-1, 1]^d. */
export function uniform(n: number, nq: number, d: number): Dataset {
  const make = (count: number, seed: number): Float32Array[] => {
    const r = rng(seed);
    return Array.from({ length: count }, () => Float32Array.from({ length: d }, () => r() * 2 - 1));
  };
  return { name: 'uniform', description: `uniform random in [-1, 1]^${d}`, vectors: make(n, 1), queries: make(nq, 2) };
}

/** Shape of the `clustered` set. */
export interface ClusteredOptions {
  clusters: number;
  /** random directions per cluster (at most d) */
  intrinsic: number;
  /** standard deviation along a cluster's first direction (centres are N(0, 1) per coordinate, so about 16 apart at d = 128) */
  spread: number;
  /** direction j (from 0) has standard deviation spread * (j + 1)^-decay: a decaying spectrum, as in real embeddings */
  decay: number;
  /** isotropic noise standard deviation in all d coordinates */
  noise: number;
}

/** `n` vectors and `nq` queries from a Gaussian mixture with a decaying spectrum per cluster (see the module comment). */
export function clustered(n: number, nq: number, d: number, o: ClusteredOptions = { clusters: 200, intrinsic: 128, spread: 3, decay: 0.5, noise: 0.1 }): Dataset {
  const g = gauss(7);
  const centres = Array.from({ length: o.clusters }, () => Float32Array.from({ length: d }, () => g()));
  // basis[c] holds `intrinsic` random directions of length ~1 (d x intrinsic, column-major)
  const basis = Array.from({ length: o.clusters }, () => Float32Array.from({ length: d * o.intrinsic }, () => g() / Math.sqrt(d)));
  const pick = rng(11);
  const z = new Float64Array(o.intrinsic);
  const point = (): Float32Array => {
    const c = Math.floor(pick() * o.clusters);
    const v = Float32Array.from(centres[c]!);
    const b = basis[c]!;
    for (let j = 0; j < o.intrinsic; j++) z[j] = g() * o.spread * (j + 1) ** -o.decay;
    for (let j = 0; j < o.intrinsic; j++) for (let i = 0; i < d; i++) v[i] = v[i]! + b[j * d + i]! * z[j]!;
    for (let i = 0; i < d; i++) v[i] = v[i]! + g() * o.noise;
    return v;
  };
  const vectors = Array.from({ length: n }, point);
  const queries = Array.from({ length: nq }, point);
  return {
    name: 'clustered',
    description: `embedding-like: ${o.clusters} Gaussian clusters (centres N(0,1)^${d}), each spread along ${o.intrinsic} random directions of its own with standard deviation ${o.spread} * (j + 1)^-${o.decay} along direction j, isotropic noise ${o.noise}; queries from the same mixture, not indexed`,
    vectors,
    queries,
  };
}

/** Fraction of the true top-k ids found, averaged over queries. */
export function recallAt(got: readonly (readonly string[])[], truth: readonly (readonly string[])[], k: number): number {
  let hit = 0;
  got.forEach((ids, i) => {
    const want = new Set(truth[i]);
    hit += ids.filter((id) => want.has(id)).length;
  });
  return hit / (truth.length * k);
}
