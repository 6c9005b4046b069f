/**
 * Test helpers for the VectorAgent tests: a seeded generator, a brute-force reference search, and
 * the FAISS availability rule (under CI, whatever truthy value CI has, FAISS must load; locally its
 * absence skips loudly).
 */
import { faissAvailable } from '../src/vector.js';
import type { VectorMetric } from '../src/vector.js';
import { IN_CI } from '../src/testing/ci.js';

/** Which FAISS tests run: under CI they all do (and fail when faiss-node does not load), elsewhere only when it loads. */
export function faissPlan(ci: boolean, loads: boolean): { engines: readonly ('faiss' | 'js')[]; runFaiss: boolean } {
  const runFaiss = loads || ci;
  return { engines: runFaiss ? ['faiss', 'js'] : ['js'], runFaiss };
}

export const hasFaiss = faissAvailable();
export const inCI = IN_CI;
const plan = faissPlan(inCI, hasFaiss);
if (!plan.runFaiss) console.warn('\n*** faiss-node does not load here: FAISS vector tests are SKIPPED (run scripts/build-faiss.sh) ***\n');

/** Engines to run the engine-agnostic tests on. */
export const engines: readonly ('faiss' | 'js')[] = plan.engines;
/** Run the FAISS-only suites (under CI always, so a missing faiss-node fails instead of skipping). */
export const runFaiss: boolean = plan.runFaiss;

/** mulberry32: a small seeded PRNG, so a failing run can be repeated. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random vectors of length `d`, uniform in [-1, 1), as float32 rows. */
export function randomVectors(n: number, d: number, seed: number): Float32Array[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: d }, () => r() * 2 - 1));
}

/** The reference score (float64 over float32 values; cosine normalises both sides in float32 first). */
export function refScore(metric: VectorMetric, q: ArrayLike<number>, x: ArrayLike<number>): number {
  const norm = (v: ArrayLike<number>): Float32Array => {
    const f = Float32Array.from(v);
    if (metric !== 'cosine') return f;
    let s = 0;
    for (const t of f) s += t * t;
    const inv = 1 / Math.sqrt(s);
    return f.map((t) => t * inv);
  };
  const a = norm(q);
  const b = norm(x);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += metric === 'l2' ? (a[i]! - b[i]!) ** 2 : a[i]! * b[i]!;
  return s;
}

/** Brute-force top-k: ids and scores, best first. */
export function bruteForce(metric: VectorMetric, items: ReadonlyMap<string, ArrayLike<number>>, q: ArrayLike<number>, k: number): { id: string; score: number }[] {
  const all = [...items].map(([id, v]) => ({ id, score: refScore(metric, q, v) }));
  all.sort((a, b) => (metric === 'l2' ? a.score - b.score : b.score - a.score));
  return all.slice(0, k);
}

/** recall@k of `got` against `want` (id lists). */
export function recall(got: readonly string[], want: readonly string[]): number {
  const w = new Set(want);
  return got.filter((id) => w.has(id)).length / want.length;
}
