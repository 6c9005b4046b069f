import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/index.js';
import { VectorAgent, faissAvailable, type VectorAgentOptions, type VectorMetric } from '../src/vector.js';
import type { FaissBinding } from '../src/agents/vector/faiss-binding.js';
import { readIndexFile } from '../src/agents/vector/index-file.js';
import { inCI, randomVectors, runFaiss } from './vector-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-faiss-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it.runIf(inCI)('faiss-node loads under CI=true (CI builds it with scripts/build-faiss.sh)', () => {
  expect(faissAvailable()).toBe(true);
  expect(new VectorAgent({ dimension: 4, metric: 'l2' }).engine).toBe('faiss');
});

/** Exact top-k ids per query over flat float rows (the reference for recall). */
function exactTopK(vs: Float32Array[], qs: Float32Array[], k: number): string[][] {
  return qs.map((q) => {
    const scored = vs.map((v, i) => {
      let s = 0;
      for (let j = 0; j < q.length; j++) s += (q[j]! - v[j]!) ** 2;
      return { i, s };
    });
    scored.sort((a, b) => a.s - b.s);
    return scored.slice(0, k).map((x) => String(x.i));
  });
}

async function recallAt10(a: VectorAgent, qs: Float32Array[], truth: string[][]): Promise<number> {
  let hit = 0;
  for (let i = 0; i < qs.length; i++) {
    const want = new Set(truth[i]);
    hit += (await a.search(qs[i]!, { k: 10 })).filter((h) => want.has(h.id)).length;
  }
  return hit / (qs.length * 10);
}

describe.skipIf(!runFaiss)('VectorAgent on FAISS: approximate indexes', () => {
  const N = 20_000;
  const D = 64;
  const vs = randomVectors(N, D, 1);
  const qs = randomVectors(200, D, 2);
  let truth: string[][];
  beforeAll(() => {
    truth = exactTopK(vs, qs, 10);
  });
  const build = async (o: Partial<VectorAgentOptions>): Promise<VectorAgent> => {
    const a = new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', ...o });
    await a.add(vs.map((vector, i) => ({ id: String(i), vector })));
    return a;
  };

  it('HNSW search has recall@10 >= 0.9 on 20k random 64-d vectors (efSearch 128)', async () => {
    const a = await build({ index: 'HNSW', efSearch: 128 });
    expect(await recallAt10(a, qs, truth)).toBeGreaterThanOrEqual(0.9);
  });

  it('IVF search has recall@10 >= 0.9 on 20k random 64-d vectors (nlist 64, nprobe 40), and exactly 1 with nprobe = nlist', async () => {
    const a = await build({ index: 'IVF', nlist: 64, nprobe: 40 });
    expect(await recallAt10(a, qs, truth)).toBeGreaterThanOrEqual(0.9);
    const path = join(dir, 'ivf.vec');
    await new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', index: 'IVF', nlist: 64, path }).save();
    const all = await build({ index: 'IVF', nlist: 64, nprobe: 64, path });
    expect(await recallAt10(all, qs.slice(0, 50), truth.slice(0, 50))).toBe(1);
    // nprobe lives in the saved FAISS bytes: re-opening with another nprobe must apply the new one
    await all.save();
    const reopened = await VectorAgent.open(path, { nprobe: 1 });
    expect(await recallAt10(reopened, qs.slice(0, 50), truth.slice(0, 50))).toBeLessThan(0.9);
  });
});

describe.skipIf(!runFaiss)('VectorAgent on FAISS: removal, training, factory strings', () => {
  const D = 16;
  const vs = randomVectors(3000, D, 5);
  const qs = randomVectors(40, D, 6);

  it('HNSW remove hides items at once and compaction keeps results right (FAISS cannot remove from HNSW)', async () => {
    const a = new VectorAgent<number>({ dimension: D, metric: 'l2', engine: 'faiss', index: 'HNSW', efSearch: 200 });
    await a.add(vs.map((vector, i) => ({ id: String(i), vector, data: i })));
    const removed = new Set<string>();
    for (let i = 0; i < 3000; i += 3) removed.add(String(i));
    await a.remove([...removed].slice(0, 100)); // tombstones only
    await a.remove([...removed].slice(100)); // over the ratio: compaction
    const alive = vs.map((v, i) => [String(i), v] as const).filter(([id]) => !removed.has(id));
    const truth = exactTopK(alive.map(([, v]) => v), qs, 10).map((ids) => ids.map((j) => alive[Number(j)]![0]));
    for (const q of qs) for (const h of await a.search(q, { k: 10 })) expect(removed.has(h.id)).toBe(false);
    expect(await recallAt10(a, qs, truth)).toBeGreaterThanOrEqual(0.95);
    expect(await a.count()).toBe(2000);
  });

  it('IVF searches exactly until trained; build() trains early and needs nlist vectors', async () => {
    const a = new VectorAgent({ dimension: D, metric: 'ip', engine: 'faiss', index: 'IVF', nlist: 32, nprobe: 1, trainSize: 2000 });
    await a.add(vs.slice(0, 20).map((vector, i) => ({ id: String(i), vector })));
    await expect(a.build()).rejects.toBeInstanceOf(ValidationError);
    await a.add(vs.slice(20, 1000).map((vector, i) => ({ id: String(20 + i), vector })));
    const exact = new VectorAgent({ dimension: D, metric: 'ip', engine: 'js' });
    await exact.add(vs.slice(0, 1000).map((vector, i) => ({ id: String(i), vector })));
    for (const q of qs.slice(0, 10)) expect((await a.search(q)).map((h) => h.id)).toEqual((await exact.search(q)).map((h) => h.id));
    await a.build(); // trained now: nprobe 1 of 32 lists is approximate
    let differ = 0;
    for (const q of qs) if ((await a.search(q)).map((h) => h.id).join() !== (await exact.search(q)).map((h) => h.id).join()) differ++;
    expect(differ).toBeGreaterThan(0);
  });

  it('factory strings: HNSW16 and PQ8 (trained by build()) work; a bad string is a ValidationError', async () => {
    for (const index of ['HNSW16', 'PQ8']) {
      const a = new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', index });
      await a.add(vs.slice(0, 1000).map((vector, i) => ({ id: String(i), vector })));
      if (index === 'PQ8') await a.build();
      const [best] = await a.search(vs[7]!, { k: 1 });
      expect(best!.id, index).toBe('7');
    }
    expect(() => new VectorAgent({ dimension: D, metric: 'l2', engine: 'faiss', index: 'Bogus12' })).toThrow(ValidationError);
  });

  it('search returns exactly what raw faiss-node returns on the agent\'s own index (Flat l2, HNSW cosine, IVF ip), also after a second batch', async () => {
    const faiss = createRequire(import.meta.url)('faiss-node') as FaissBinding;
    const cases: [Partial<VectorAgentOptions>, VectorMetric][] = [
      [{ index: 'Flat' }, 'l2'],
      [{ index: 'HNSW', efSearch: 16 }, 'cosine'],
      // nprobe 1 of 32 lists: approximate, so an exact fallback would not match FAISS
      [{ index: 'IVF', nlist: 32, nprobe: 1, trainSize: 1000 }, 'ip'],
    ];
    for (const [o, metric] of cases) {
      const path = join(dir, `raw-${metric}.vec`);
      const a = new VectorAgent({ dimension: D, metric, engine: 'faiss', path, ...o });
      await a.add(vs.slice(0, 1000).map((vector, i) => ({ id: String(i), vector })));
      await a.search(qs[0]!);
      await a.add(vs.slice(1000).map((vector, i) => ({ id: String(1000 + i), vector })));
      await a.save();
      const raw = faiss.Index.fromBuffer(Buffer.from((await readIndexFile(path))!.faiss!));
      expect(raw.ntotal()).toBe(vs.length);
      for (const [n, q] of qs.entries()) {
        const f = Float32Array.from(q);
        if (metric === 'cosine') {
          const inv = 1 / Math.sqrt(f.reduce((s, x) => s + x * x, 0));
          for (let i = 0; i < D; i++) f[i] = f[i]! * inv;
        }
        const want = raw.search(Array.from(f), 10);
        // plain-array and Float32Array queries alike
        const hits = await a.search(n % 2 === 0 ? q : Array.from(q), { k: 10 });
        expect(hits.map((h) => h.id), `${o.index} query ${n}`).toEqual(want.labels.map(String));
        expect(hits.map((h) => h.score)).toEqual(want.distances);
      }
      if (o.index === 'IVF') {
        const exact = new VectorAgent({ dimension: D, metric, engine: 'js' });
        await exact.add(vs.map((vector, i) => ({ id: String(i), vector })));
        let differ = 0;
        for (const q of qs) if ((await a.search(q)).map((h) => h.id).join() !== (await exact.search(q)).map((h) => h.id).join()) differ++;
        expect(differ).toBeGreaterThan(0);
      }
    }
  });

  it('an HNSW index saved by FAISS re-opens without rebuilding and searches the same', async () => {
    const path = join(dir, 'hnsw.vec');
    const a = new VectorAgent({ dimension: D, metric: 'cosine', engine: 'faiss', index: 'HNSW', path });
    await a.add(vs.map((vector, i) => ({ id: String(i), vector })));
    await a.remove(['1', '2']);
    await a.save();
    const b = await VectorAgent.open(path);
    expect(b.index).toBe('HNSW');
    for (const q of qs) expect(await b.search(q, { k: 5 })).toEqual(await a.search(q, { k: 5 }));
  });
});

describe('VectorAgent without faiss-node', () => {
  it('engine auto falls back to the TypeScript index with one warning; engine faiss throws BackendUnavailableError', () => {
    const preload = join(dir, 'no-faiss.cjs');
    writeFileSync(
      preload,
      `const M = require('node:module'); const load = M._load;
       M._load = function (req, ...rest) { if (req === 'faiss-node') throw new Error('faiss-node hidden by the test'); return load.call(this, req, ...rest); };`,
    );
    const script = join(dir, 'no-faiss.mts');
    writeFileSync(
      script,
      `import { VectorAgent } from ${JSON.stringify(resolve('src/vector.ts'))};
       let warnings = 0;
       process.on('warning', (w) => { if ((w as { code?: string }).code === 'DGENT_VECTOR_NO_FAISS') warnings++; });
       const a = new VectorAgent({ dimension: 2, metric: 'l2', index: 'HNSW' });
       const b = new VectorAgent({ dimension: 2, metric: 'l2' });
       await a.add([{ id: 'x', vector: [1, 1] }, { id: 'y', vector: [5, 5] }]);
       const hits = await a.search([4, 4], { k: 1 });
       let faissError = '';
       try { new VectorAgent({ dimension: 2, metric: 'l2', engine: 'faiss' }); } catch (e) { faissError = (e as { code: string }).code; }
       await new Promise((r) => setTimeout(r, 50));
       console.log(JSON.stringify({ engines: [a.engine, b.engine], hits, warnings, faissError }));`,
    );
    const r = spawnSync(process.execPath, ['--require', preload, '--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toEqual({ engines: ['js', 'js'], hits: [{ id: 'y', score: 2 }], warnings: 1, faissError: 'BACKEND_UNAVAILABLE' });
  });
});
