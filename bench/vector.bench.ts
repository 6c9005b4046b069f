/**
 * VectorAgent on BENCH_VECTOR_N (default 100 000) random 128-d vectors, k = 10:
 * - build time (vectors/s), search QPS and recall@10 for Flat, HNSW and IVF through VectorAgent,
 *   beside raw faiss-node doing the same searches on an index built with the same factory string
 *   and parameters (target: VectorAgent >= 0.8x raw QPS), and the TypeScript flat fallback;
 * - HNSW at several efSearch values, re-opened from the saved file with `VectorAgent.open(path,
 *   { efSearch })` (target: recall@10 >= 0.95 at >= 10x the Flat QPS).
 * Recall is measured against exact results (raw faiss-node IndexFlatL2). faiss-node has no
 * parameter setters, so the raw baseline gets efConstruction/efSearch/nprobe the way dgent does:
 * patched into the serialised index (patchParams) and read back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VectorAgent, faissAvailable, type VectorAgentOptions } from '../src/vector.js';
import { patchParams } from '../src/agents/vector/faiss-index.js';
import type { FaissBinding, FaissIndex } from '../src/agents/vector/faiss-binding.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';

const N = Number(process.env.BENCH_VECTOR_N ?? 100_000);
const D = 128;
const NQ = Number(process.env.BENCH_VECTOR_QUERIES ?? 200);
const K = 10;
const NLIST = 256;
const NPROBE = 48;
const EF_CONSTRUCTION = 80;

function random(n: number, seed: number): Float32Array[] {
  let a = seed >>> 0;
  const r = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Float32Array.from({ length: D }, () => r() * 2 - 1));
}

function recallOf(got: string[][], truth: string[][]): number {
  let hit = 0;
  got.forEach((ids, i) => {
    const want = new Set(truth[i]);
    hit += ids.filter((id) => want.has(id)).length;
  });
  return hit / (truth.length * K);
}

function timed(name: string, ops: number, fn: () => Promise<void> | void): Promise<CaseResult> {
  const t0 = process.hrtime.bigint();
  return Promise.resolve(fn()).then(() => {
    const rate = ops / (Number(process.hrtime.bigint() - t0) / 1e9);
    return { name, opsPerSec: rate, runs: [rate], ops };
  });
}

export async function main(): Promise<void> {
  if (!faissAvailable()) {
    console.log('vector bench: faiss-node does not load here (run scripts/build-faiss.sh); skipped');
    return;
  }
  const faiss = createRequire(import.meta.url)('faiss-node') as FaissBinding;
  const vs = random(N, 1);
  const qs = random(NQ, 2);
  const qArrays = qs.map((q) => Array.from(q));
  const items = vs.map((vector, i) => ({ id: String(i), vector }));
  const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-bench-'));
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const recalls: { name: string; recall: number }[] = [];

  const rawBuild = (factory: string, params: { efConstruction?: number; efSearch?: number; nprobe?: number }, train: boolean): FaissIndex => {
    const bytes = faiss.Index.fromFactory(D, factory, faiss.MetricType.METRIC_L2).toBuffer();
    patchParams(bytes, params);
    const ix = faiss.Index.fromBuffer(bytes);
    if (train) ix.train(vs.flatMap((v) => Array.from(v))); // all N, like the agent
    for (let o = 0; o < N; o += 8192) ix.add(vs.slice(o, o + 8192).flatMap((v) => Array.from(v)));
    return ix;
  };
  const withParams = (ix: FaissIndex, params: { efSearch?: number; nprobe?: number }): FaissIndex => {
    const b = ix.toBuffer();
    patchParams(b, params);
    return faiss.Index.fromBuffer(b);
  };
  const agentIds = async (a: VectorAgent): Promise<string[][]> => Promise.all(qs.map(async (q) => (await a.search(q, { k: K })).map((h) => h.id)));
  const rawIds = (ix: FaissIndex): string[][] => qArrays.map((q) => ix.search(q, K).labels.map(String));

  try {
    let truth: string[][] = [];
    const run = async (label: string, o: Partial<VectorAgentOptions>, factory: string, params: { efConstruction?: number; efSearch?: number; nprobe?: number }, train: boolean) => {
      let agent!: VectorAgent;
      cases.push(
        await timed(`build ${label}: VectorAgent (vectors/s)`, N, async () => {
          agent = new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', ...o });
          await agent.add(items); // IVF: the batch crosses trainSize, so FAISS trains on all N vectors
        }),
      );
      let raw!: FaissIndex;
      cases.push(await timed(`build ${label}: raw faiss-node (vectors/s)`, N, () => void (raw = rawBuild(factory, params, train))));
      const subject = await measure(`search ${label}: VectorAgent`, NQ, async () => {
        for (const q of qs) await agent.search(q, { k: K });
      });
      const baseline = await measure(`search ${label}: raw faiss-node`, NQ, () => {
        for (const q of qArrays) raw.search(q, K);
      });
      cases.push(subject, baseline);
      comparisons.push({ label: `${label} search: VectorAgent vs raw faiss-node`, subject, baseline, target: 0.8 });
      if (label === 'Flat') truth = rawIds(raw);
      recalls.push({ name: `${label} VectorAgent`, recall: recallOf(await agentIds(agent), truth) }, { name: `${label} raw faiss-node`, recall: recallOf(rawIds(raw), truth) });
      return { agent, raw, subject };
    };

    const flat = await run('Flat', { index: 'Flat' }, 'Flat', {}, false);
    const path = join(dir, 'hnsw.vec');
    const hnsw = await run('HNSW32 efSearch=64', { index: 'HNSW', efConstruction: EF_CONSTRUCTION, efSearch: 64, path }, 'HNSW32', { efConstruction: EF_CONSTRUCTION, efSearch: 64 }, false);
    // save once, then re-open with other efSearch values: the graph is read back, not rebuilt
    await hnsw.agent.save();
    for (const ef of [128, 256, 384]) {
      const a = await VectorAgent.open(path, { efSearch: ef });
      const r = withParams(hnsw.raw, { efSearch: ef });
      const subject = await measure(`search HNSW32 efSearch=${ef}: VectorAgent`, NQ, async () => {
        for (const q of qs) await a.search(q, { k: K });
      });
      const baseline = await measure(`search HNSW32 efSearch=${ef}: raw faiss-node`, NQ, () => {
        for (const q of qArrays) r.search(q, K);
      });
      cases.push(subject, baseline);
      comparisons.push({ label: `HNSW32 efSearch=${ef} search: VectorAgent vs raw faiss-node`, subject, baseline, target: 0.8 });
      comparisons.push({ label: `HNSW32 efSearch=${ef} vs Flat search QPS (VectorAgent)`, subject, baseline: flat.subject, target: 10 });
      recalls.push({ name: `HNSW32 efSearch=${ef} VectorAgent`, recall: recallOf(await agentIds(a), truth) }, { name: `HNSW32 efSearch=${ef} raw faiss-node`, recall: recallOf(rawIds(r), truth) });
    }
    await run(`IVF${NLIST},Flat nprobe=${NPROBE}`, { index: 'IVF', nlist: NLIST, nprobe: NPROBE }, `IVF${NLIST},Flat`, { nprobe: NPROBE }, true);

    let js!: VectorAgent;
    cases.push(
      await timed('build Flat: TypeScript fallback (vectors/s)', N, async () => {
        js = new VectorAgent({ dimension: D, metric: 'l2', engine: 'js' });
        await js.add(items);
      }),
    );
    const jsq = qs.slice(0, Math.min(NQ, 50));
    const jsCase = await measure('search Flat: TypeScript fallback', jsq.length, async () => {
      for (const q of jsq) await js.search(q, { k: K });
    }, 3);
    cases.push(jsCase);
    comparisons.push({ label: 'Flat search: TypeScript fallback vs FAISS (VectorAgent)', subject: jsCase, baseline: flat.subject });
    recalls.push({ name: 'Flat TypeScript fallback', recall: recallOf(await agentIds(js), truth) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  report('vector', cases, comparisons);
  console.log(`\n| recall@${K} (${NQ} queries, ${N} x ${D}-d uniform random) | recall |\n| --- | ---: |`);
  for (const r of recalls) console.log(`| ${r.name} | ${r.recall.toFixed(3)} |`);
}
