/**
 * VectorAgent on BENCH_VECTOR_N (default 100 000) 128-d vectors, k = 10, on two data sets
 * (bench/vector-data.ts): `clustered` (embedding-like, the set the acceptance targets are judged
 * on) and `uniform` (no structure: the worst case for approximate search, reported beside it).
 *
 * - (a) VectorAgent search QPS >= 0.8x raw faiss-node, for Flat, HNSW and IVF. Raw faiss-node
 *   searches the agent's own index (the FAISS bytes of the agent's saved file, read back with
 *   `Index.fromBuffer`), so both search the identical structure with the same queries and k. The
 *   agent gets Float32Array queries; raw faiss-node gets them already converted to the plain arrays
 *   its binding takes (the strictest baseline). Agent and raw passes alternate (agent first in even
 *   rounds, raw first in odd ones) after one warm-up pass each, a pass repeating the queries until
 *   it lasts MIN_PASS_SECONDS; QPS are medians over the rounds, and the judged ratio is the median
 *   of the per-round agent/raw ratios, so drift in machine load hits both sides alike.
 * - (b) HNSW recall@10 >= 0.95 at >= 10x the agent's Flat QPS: the full efSearch sweep, each point
 *   re-opened from the saved file with `VectorAgent.open(path, { efSearch })`.
 * Recall is against exact results (FAISS Flat). BENCH_VECTOR_DATA=clustered,uniform picks the
 * sets, BENCH_REPEAT the rounds (default 5), BENCH_VECTOR_QUERIES the queries (default 200).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VectorAgent, faissAvailable, type VectorAgentOptions } from '../src/vector.js';
import { patchParams } from '../src/agents/vector/faiss-index.js';
import type { FaissBinding, FaissIndex } from '../src/agents/vector/faiss-binding.js';
import { readIndexFile } from '../src/agents/vector/index-file.js';
import { report, measure, type CaseResult, type Comparison } from './lib.js';
import { clustered, recallAt, uniform, type Dataset } from './vector-data.js';

const N = Number(process.env.BENCH_VECTOR_N ?? 100_000);
const D = 128;
const NQ = Number(process.env.BENCH_VECTOR_QUERIES ?? 200);
const K = 10;
const ROUNDS = Number(process.env.BENCH_REPEAT ?? 5);
const DATASETS = (process.env.BENCH_VECTOR_DATA ?? 'clustered,uniform').split(',');
/** HNSW build parameters (the agent's defaults) and the efSearch values swept per data set */
const HNSW = { M: 32, efConstruction: 80 };
const SWEEP: Record<string, number[]> = { clustered: [16, 24, 32, 48, 64, 128, 256], uniform: [64, 128, 256, 512] };
const IVF = { nlist: 256, nprobe: 48 };

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** passes shorter than this repeat the query set, so a scheduler hiccup on the shared machine is a small part of one */
const MIN_PASS_SECONDS = 0.25;

/** Interleaved agent/raw rounds over the same queries (see the module comment). A pass runs the query set `reps` times. */
async function paired(label: string, agentPass: (reps: number) => Promise<void>, rawPass: (reps: number) => void): Promise<{ agent: CaseResult; raw: CaseResult; ratio: number }> {
  const seconds = async (fn: () => Promise<void> | void): Promise<number> => {
    const t0 = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  // the warm-up passes also size the rounds
  const warm = Math.min(await seconds(() => agentPass(1)), await seconds(() => rawPass(1)));
  const reps = Math.max(1, Math.ceil(MIN_PASS_SECONDS / warm));
  const qps = async (fn: (reps: number) => Promise<void> | void): Promise<number> => (NQ * reps) / (await seconds(() => fn(reps)));
  const a: number[] = [];
  const r: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) {
      a.push(await qps(agentPass));
      r.push(await qps(rawPass));
    } else {
      r.push(await qps(rawPass));
      a.push(await qps(agentPass));
    }
  }
  return {
    agent: { name: `search ${label}: VectorAgent`, opsPerSec: median(a), runs: a, ops: NQ * reps },
    raw: { name: `search ${label}: raw faiss-node`, opsPerSec: median(r), runs: r, ops: NQ * reps },
    ratio: median(a.map((x, i) => x / r[i]!)),
  };
}

async function timed(name: string, ops: number, fn: () => Promise<void>): Promise<CaseResult> {
  const t0 = process.hrtime.bigint();
  await fn();
  const rate = ops / (Number(process.hrtime.bigint() - t0) / 1e9);
  return { name, opsPerSec: rate, runs: [rate], ops };
}

interface SearchRow {
  dataset: string;
  index: string;
  agentQps: number;
  rawQps: number;
  /** median of the per-round agent/raw ratios */
  pairedRatio: number;
  agentRecall: number;
  rawRecall: number;
}

export async function main(): Promise<void> {
  if (!faissAvailable()) {
    console.log('vector bench: faiss-node does not load here (run scripts/build-faiss.sh); skipped');
    return;
  }
  const faiss = createRequire(import.meta.url)('faiss-node') as FaissBinding;
  const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-bench-'));
  const cases: CaseResult[] = [];
  /** builds are timed once each: listed after the searches, whose run count the table header gives */
  const builds: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const rows: SearchRow[] = [];
  const described: Record<string, string> = {};
  const flatQps: Record<string, number> = {};

  try {
    for (const name of DATASETS) {
      const ds: Dataset = name === 'uniform' ? uniform(N, NQ, D) : clustered(N, NQ, D);
      described[ds.name] = ds.description;
      const qs = ds.queries;
      const qArrays = qs.map((q) => Array.from(q));
      const items = ds.vectors.map((vector, i) => ({ id: String(i), vector }));
      const agentIds = async (a: VectorAgent): Promise<string[][]> => Promise.all(qs.map(async (q) => (await a.search(q, { k: K })).map((h) => h.id)));
      // ids are String(slot): the items are added in order and never removed
      const rawIds = (ix: FaissIndex): string[][] => qArrays.map((q) => ix.search(q, K).labels.map(String));
      const agentPass = (a: VectorAgent) => async (reps: number): Promise<void> => {
        for (let i = 0; i < reps; i++) for (const q of qs) await a.search(q, { k: K });
      };
      const rawPass = (ix: FaissIndex) => (reps: number): void => {
        for (let i = 0; i < reps; i++) for (const q of qArrays) ix.search(q, K);
      };
      /** the agent's index as raw faiss-node reads it back from the saved file, with `params` patched in */
      const rawOf = async (path: string, params: { efSearch?: number; nprobe?: number } = {}): Promise<FaissIndex> => {
        const c = await readIndexFile(path);
        const bytes = Buffer.from(c!.faiss!);
        patchParams(bytes, params);
        return faiss.Index.fromBuffer(bytes);
      };
      let truth: string[][] = [];
      const compare = async (label: string, agent: VectorAgent, raw: FaissIndex): Promise<SearchRow & { agentCase: CaseResult }> => {
        const full = `${ds.name} ${label}`;
        const p = await paired(full, agentPass(agent), rawPass(raw));
        cases.push(p.agent, p.raw);
        comparisons.push({ label: `${full} search: VectorAgent vs raw faiss-node`, subject: p.agent, baseline: p.raw, target: 0.8 });
        const row = { dataset: ds.name, index: label, agentQps: p.agent.opsPerSec, rawQps: p.raw.opsPerSec, pairedRatio: p.ratio, agentRecall: recallAt(await agentIds(agent), truth, K), rawRecall: recallAt(rawIds(raw), truth, K) };
        rows.push(row);
        return { ...row, agentCase: p.agent };
      };
      const build = async (label: string, o: Partial<VectorAgentOptions>, path: string): Promise<VectorAgent> => {
        const agent = new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', path, ...o });
        builds.push(
          await timed(`build ${ds.name} ${label}: VectorAgent (vectors/s)`, N, async () => {
            // trained kinds train on the first batch (trainSize items), as an agent filling up over time does
            const first = o.trainSize ?? N;
            await agent.add(items.slice(0, first));
            if (first < N) await agent.add(items.slice(first));
          }),
        );
        await agent.save();
        return agent;
      };

      // Flat: exact, and the source of the ground truth
      const flatPath = join(dir, `${ds.name}-flat.vec`);
      const flat = await build('Flat', { index: 'Flat' }, flatPath);
      const flatRaw = await rawOf(flatPath);
      truth = rawIds(flatRaw);
      const flatCase = (await compare('Flat', flat, flatRaw)).agentCase;
      flatQps[ds.name] = flatCase.opsPerSec;

      if (ds.name === DATASETS[0]) {
        // the TypeScript fallback is data-independent: measured once
        let js!: VectorAgent;
        builds.push(
          await timed('build Flat: TypeScript fallback (vectors/s)', N, async () => {
            js = new VectorAgent({ dimension: D, metric: 'l2', engine: 'js' });
            await js.add(items);
          }),
        );
        const jsq = qs.slice(0, Math.min(NQ, 50));
        const jsCase = await measure(`search ${ds.name} Flat: TypeScript fallback`, jsq.length, async () => {
          for (const q of jsq) await js.search(q, { k: K });
        }, 3);
        cases.push(jsCase);
        comparisons.push({ label: 'Flat search: TypeScript fallback vs FAISS (VectorAgent)', subject: jsCase, baseline: flatCase });
        await js.close();
      }
      await flat.close();

      // HNSW: built once, saved, then re-opened at each efSearch (the graph is read back, not rebuilt)
      const hnswPath = join(dir, `${ds.name}-hnsw.vec`);
      await (await build(`HNSW${HNSW.M} efConstruction=${HNSW.efConstruction}`, { index: 'HNSW', hnswM: HNSW.M, efConstruction: HNSW.efConstruction }, hnswPath)).close();
      for (const ef of SWEEP[ds.name] ?? [64]) {
        const agent = await VectorAgent.open(hnswPath, { efSearch: ef, engine: 'faiss' });
        const row = await compare(`HNSW${HNSW.M} efSearch=${ef}`, agent, await rawOf(hnswPath, { efSearch: ef }));
        comparisons.push({ label: `${ds.name} HNSW${HNSW.M} efSearch=${ef} vs Flat search QPS (VectorAgent; recall ${row.agentRecall.toFixed(3)})`, subject: row.agentCase, baseline: flatCase });
        await agent.close();
      }

      // IVF
      const ivfPath = join(dir, `${ds.name}-ivf.vec`);
      const ivf = await build(`IVF${IVF.nlist},Flat`, { index: 'IVF', nlist: IVF.nlist, nprobe: IVF.nprobe, trainSize: Math.min(N, 39 * IVF.nlist) }, ivfPath);
      await compare(`IVF${IVF.nlist},Flat nprobe=${IVF.nprobe}`, ivf, await rawOf(ivfPath, { nprobe: IVF.nprobe }));
      await ivf.close();
      for (const p of [flatPath, hnswPath, ivfPath]) rmSync(p, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  report('vector', [...cases, ...builds], comparisons);
  const pct = (x: number): string => x.toFixed(3);
  console.log(`\n| data set | index | VectorAgent QPS | raw QPS | agent/raw (paired median) | recall@${K} agent | recall@${K} raw |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |`);
  for (const r of rows) console.log(`| ${r.dataset} | ${r.index} | ${Math.round(r.agentQps)} | ${Math.round(r.rawQps)} | ${r.pairedRatio.toFixed(2)}× | ${pct(r.agentRecall)} | ${pct(r.rawRecall)} |`);

  // the targets, judged on the clustered (embedding-like) set; uniform reported beside it
  const targets = DATASETS.map((name) => {
    const mine = rows.filter((r) => r.dataset === name);
    const worstRatio = Math.min(...mine.map((r) => r.pairedRatio));
    const hnsw = mine.filter((r) => r.index.startsWith('HNSW'));
    const good = hnsw.filter((r) => r.agentRecall >= 0.95).sort((a, b) => b.agentQps - a.agentQps)[0];
    // without a point at recall 0.95, the most accurate one shows how far off the target is
    const shown = good ?? hnsw.sort((a, b) => b.agentRecall - a.agentRecall)[0]!;
    const speedup = shown.agentQps / flatQps[name]!;
    return {
      dataset: name,
      judged: name === 'clustered',
      a: { worstPairedRatio: worstRatio, met: worstRatio >= 0.8 },
      b: { point: shown.index, reachesRecall: good !== undefined, recall: shown.agentRecall, speedupOverFlat: speedup, met: good !== undefined && speedup >= 10 },
    };
  });
  console.log('\n| data set | judged | (a) worst agent/raw ≥ 0.8× | met | (b) fastest HNSW with recall ≥ 0.95 | × Flat QPS | met |\n| --- | :---: | ---: | :---: | --- | ---: | :---: |');
  for (const t of targets) {
    const point = t.b.reachesRecall ? `${t.b.point} (recall ${pct(t.b.recall)})` : `none; best recall ${pct(t.b.recall)} at ${t.b.point}`;
    console.log(`| ${t.dataset} | ${t.judged ? 'yes' : 'no'} | ${t.a.worstPairedRatio.toFixed(2)}× | ${t.a.met ? 'yes' : 'NO'} | ${point} | ${t.b.speedupOverFlat.toFixed(1)}× | ${t.b.met ? 'yes' : 'NO'} |`);
  }
  for (const [name, d] of Object.entries(described)) console.log(`\n${name}: ${N} x ${D}-d, ${NQ} queries, ${d}`);

  // report() wrote the cases and ratios; add the data sets, the recall table and the targets
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results', 'vector.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...json, n: N, dimension: D, queries: NQ, k: K, rounds: ROUNDS, hnsw: HNSW, ivf: IVF, datasets: described, searches: rows, targets }, null, 2) + '\n');
}
