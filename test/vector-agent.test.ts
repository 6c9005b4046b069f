import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { CorruptionError, SerializationError, StateNotFoundError, ValidationError, ClosedError } from '../src/index.js';
import { VectorAgent, type VectorHit, type VectorMetric } from '../src/vector.js';
import { toNumbers } from '../src/agents/vector/vectors.js';
import { bruteForce, engines, randomVectors, refScore } from './vector-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmpFile = (): string => join(dir, `v${fileNo++}.vec`);

const metrics: VectorMetric[] = ['l2', 'ip', 'cosine'];

/** `hits` is a correct exact top-k over `model`: right length, true scores, rank-wise equal to the reference. */
function expectExact(engine: string, metric: VectorMetric, model: ReadonlyMap<string, ArrayLike<number>>, q: ArrayLike<number>, k: number, hits: VectorHit<unknown>[]): void {
  const tol = (s: number): number => (engine === 'js' ? 0 : 1e-4 * (1 + Math.abs(s)));
  const ref = bruteForce(metric, model, q, k);
  expect(hits.length).toBe(ref.length);
  expect(new Set(hits.map((h) => h.id)).size).toBe(hits.length);
  hits.forEach((h, i) => {
    const v = model.get(h.id);
    expect(v, `hit ${h.id} is stored`).toBeDefined();
    const truth = refScore(metric, q, v!);
    expect(Math.abs(h.score - truth)).toBeLessThanOrEqual(tol(truth));
    expect(Math.abs(h.score - ref[i]!.score)).toBeLessThanOrEqual(tol(ref[i]!.score));
  });
}

const float = fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true });
const vectorOf = (d: number, metric: VectorMetric) =>
  fc.array(float, { minLength: d, maxLength: d }).filter((v) => metric !== 'cosine' || v.reduce((s, x) => s + x * x, 0) > 1e-3);

describe.each(engines)('VectorAgent on engine %s', (engine) => {
  describe.each(metrics)('metric %s', (metric) => {
    it('Flat search equals a brute-force reference on random data', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 8 }).chain((d) =>
            fc.record({
              d: fc.constant(d),
              vectors: fc.array(vectorOf(d, metric), { minLength: 1, maxLength: 60 }),
              queries: fc.array(vectorOf(d, metric), { minLength: 1, maxLength: 4 }),
              k: fc.integer({ min: 1, max: 70 }),
            }),
          ),
          async ({ d, vectors, queries, k }) => {
            const a = new VectorAgent({ dimension: d, metric, engine });
            await a.add(vectors.map((vector, i) => ({ id: `i${i}`, vector })));
            const model = new Map(vectors.map((v, i) => [`i${i}`, v]));
            for (const q of queries) expectExact(engine, metric, model, q, k, await a.search(q, { k }));
          },
        ),
        { numRuns: 40 },
      );
    });

    it('search after random add/upsert/remove sequences equals the reference over a Map model', async () => {
      const d = 4;
      const id = fc.integer({ min: 0, max: 40 }).map((n) => `id-${n}`);
      const op = fc.oneof(
        fc.record({ t: fc.constant('upsert' as const), items: fc.uniqueArray(fc.record({ id, vector: vectorOf(d, metric) }), { selector: (x) => x.id, maxLength: 12 }) }),
        fc.record({ t: fc.constant('remove' as const), ids: fc.array(id, { maxLength: 12 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), vectorOf(d, metric), async (ops, q) => {
          const a = new VectorAgent<number>({ dimension: d, metric, engine, compactRatio: 0.1 });
          const model = new Map<string, number[]>();
          for (const o of ops) {
            if (o.t === 'upsert') {
              await a.upsert(o.items.map((it, i) => ({ ...it, data: i })));
              for (const it of o.items) model.set(it.id, it.vector);
            } else {
              const removed = await a.remove(o.ids);
              expect(removed).toBe(new Set(o.ids.filter((x) => model.has(x))).size);
              for (const x of o.ids) model.delete(x);
            }
          }
          expect(await a.count()).toBe(model.size);
          expectExact(engine, metric, model, q, 50, await a.search(q, { k: 50 }));
        }),
        { numRuns: 40 },
      );
    });
  });

  it('remove then add keeps every id bound to its own vector and data', async () => {
    const vs = randomVectors(300, 16, 7);
    const a = new VectorAgent<{ n: number }>({ dimension: 16, metric: 'l2', engine });
    await a.add(vs.slice(0, 200).map((vector, n) => ({ id: `a${n}`, vector, data: { n } })));
    expect(await a.remove(Array.from({ length: 100 }, (_, n) => `a${2 * n}`))).toBe(100); // compaction runs here
    await a.add(vs.slice(200).map((vector, n) => ({ id: `b${n}`, vector, data: { n: 200 + n } })));
    expect(await a.count()).toBe(200);
    for (let n = 0; n < 300; n++) {
      const id = n < 200 ? `a${n}` : `b${n - 200}`;
      const stored = await a.get(id);
      if (n < 200 && n % 2 === 0) {
        expect(stored).toBeUndefined();
        continue;
      }
      expect(stored?.vector).toEqual(vs[n]);
      const [best] = await a.search(vs[n]!, { k: 1 });
      expect(best).toEqual({ id, score: 0, data: { n } });
    }
  });

  it('search with a filter returns k matching items in order', async () => {
    const vs = randomVectors(200, 8, 3);
    const a = new VectorAgent<{ even: boolean }>({ dimension: 8, metric: 'ip', engine });
    await a.add(vs.map((vector, n) => ({ id: `x${n}`, vector, data: { even: n % 2 === 0 } })));
    const model = new Map(vs.map((v, n) => [`x${n}`, v] as const).filter((_, n) => n % 2 === 0));
    const hits = await a.search(vs[1]!, { k: 15, filter: (_id, data) => data!.even });
    expectExact(engine, 'ip', model, vs[1]!, 15, hits);
  });

  it('save then open restores items, data and search results, tombstones included', async () => {
    const path = tmpFile();
    const vs = randomVectors(120, 12, 11);
    const a = new VectorAgent<{ tag: string; at: Date }>({ dimension: 12, metric: 'cosine', engine, path });
    await a.add(vs.map((vector, n) => ({ id: `m${n}`, vector, data: { tag: `t${n}`, at: new Date(n) } })));
    await a.remove(['m1', 'm2', 'm3']); // below the compaction threshold: saved as tombstones
    await a.save();
    const b = await VectorAgent.open<{ tag: string; at: Date }>(path, { engine });
    expect([b.dimension, b.metric, b.index]).toEqual([12, 'cosine', 'Flat']);
    expect(await b.count()).toBe(117);
    expect(await b.has('m2')).toBe(false);
    expect((await b.get('m7'))?.data).toEqual({ tag: 't7', at: new Date(7) });
    for (const q of vs.slice(0, 10)) expect(await b.search(q, { k: 7 })).toEqual(await a.search(q, { k: 7 }));
    await b.add([{ id: 'm1', vector: vs[1]! }]);
    expect((await b.search(vs[1]!, { k: 1 }))[0]!.id).toBe('m1');
  });

  it('a new agent with a path loads the existing file on first use', async () => {
    const path = tmpFile();
    const a = new VectorAgent({ dimension: 3, metric: 'l2', engine, path });
    await a.add([{ id: 'p', vector: [1, 2, 3] }]);
    await a.save();
    const b = new VectorAgent({ dimension: 3, metric: 'l2', engine, path });
    expect(await b.search([1, 2, 3], { k: 1 })).toEqual([{ id: 'p', score: 0, data: undefined }]);
    const wrong = new VectorAgent({ dimension: 4, metric: 'l2', engine, path });
    await expect(wrong.count()).rejects.toBeInstanceOf(ValidationError);
  });

  it('open of a damaged file throws CorruptionError and leaves the file as it was', async () => {
    const path = tmpFile();
    const a = new VectorAgent({ dimension: 8, metric: 'l2', engine, path });
    await a.add(randomVectors(50, 8, 5).map((vector, n) => ({ id: `c${n}`, vector, data: n })));
    await a.save();
    const good = readFileSync(path);
    const damages: [string, Buffer][] = [
      ['flipped byte', Buffer.from(good.map((b, i) => (i === Math.floor(good.length / 2) ? b ^ 0x10 : b)))],
      ['truncated', good.subarray(0, good.length - 100)],
      ['garbage', Buffer.from('not a vector file at all')],
      ['empty', Buffer.alloc(0)],
    ];
    for (const [what, bytes] of damages) {
      writeFileSync(path, bytes);
      await expect(VectorAgent.open(path, { engine }), what).rejects.toBeInstanceOf(CorruptionError);
      expect(readFileSync(path).equals(bytes), what).toBe(true);
    }
  });

  it('open of a missing file throws StateNotFoundError, or gives an empty agent given dimension and metric', async () => {
    const path = tmpFile();
    await expect(VectorAgent.open(path, { engine })).rejects.toBeInstanceOf(StateNotFoundError);
    const a = await VectorAgent.open(path, { engine, dimension: 2, metric: 'ip' });
    expect(await a.count()).toBe(0);
    expect(await a.search([1, 0])).toEqual([]);
    await a.save();
    expect(existsSync(path)).toBe(true);
  });

  it('bad vectors, ids and data throw typed errors and store nothing', async () => {
    const a = new VectorAgent({ dimension: 3, metric: 'cosine', engine });
    await a.add([{ id: 'keep', vector: [1, 0, 0] }]);
    const bad: [unknown, new (...args: never[]) => Error][] = [
      [[{ id: 'x', vector: [1, 2] }], ValidationError],
      [[{ id: 'x', vector: [1, 2, 3, 4] }], ValidationError],
      [[{ id: 'x', vector: [1, Number.NaN, 3] }], ValidationError],
      [[{ id: 'x', vector: [1, Number.POSITIVE_INFINITY, 3] }], ValidationError],
      [[{ id: 'x', vector: [1, 1e300, 3] }], ValidationError],
      [[{ id: 'x', vector: [1, '2', 3] }], ValidationError],
      [[{ id: 'x', vector: 'abc' }], ValidationError],
      [[{ id: 'x', vector: [0, 0, 0] }], ValidationError],
      [[{ id: '', vector: [1, 2, 3] }], ValidationError],
      [[{ id: 7, vector: [1, 2, 3] }], ValidationError],
      [[{ id: 'x', vector: [1, 2, 3] }, { id: 'x', vector: [3, 2, 1] }], ValidationError],
      [[{ id: 'keep', vector: [1, 2, 3] }], ValidationError],
      [[{ id: 'y', vector: [1, 2, 3] }, { id: 'z', vector: [1, 2] }], ValidationError],
      [[{ id: 'x', vector: [1, 2, 3], data: { f: () => 1 } }], SerializationError],
      [{ id: 'x', vector: [1, 2, 3] }, ValidationError],
    ];
    for (const [items, cls] of bad) await expect(a.add(items as never), JSON.stringify(items)).rejects.toBeInstanceOf(cls);
    expect(await a.count()).toBe(1);
    expect(await a.has('y')).toBe(false);
    await expect(a.search([1, 2])).rejects.toBeInstanceOf(ValidationError);
    await expect(a.search([1, 0, 0], { k: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(a.remove([''])).rejects.toBeInstanceOf(ValidationError);
    await expect(a.upsert([{ id: 'keep', vector: [Number.NaN, 0, 0] }])).rejects.toBeInstanceOf(ValidationError);
    expect((await a.get('keep'))?.vector).toEqual(new Float32Array([1, 0, 0]));
    expect(() => new VectorAgent({ dimension: 0, metric: 'l2', engine })).toThrow(ValidationError);
    expect(() => new VectorAgent({ dimension: 3, metric: 'cos' as never, engine })).toThrow(ValidationError);
  });

  it('data is returned frozen and bytes in data cannot be changed through a result', async () => {
    const a = new VectorAgent<{ b: Uint8Array; tags: string[] }>({ dimension: 2, metric: 'l2', engine });
    await a.add([{ id: 'd', vector: [0, 0], data: { b: new Uint8Array([1, 2]), tags: ['x'] } }]);
    const [hit] = await a.search([0, 0], { k: 1 });
    expect(Object.isFrozen(hit!.data!.tags)).toBe(true);
    hit!.data!.b[0] = 99;
    expect((await a.get('d'))!.data!.b[0]).toBe(1);
  });

  it('add of an empty list is a no-op; save without a path throws ValidationError', async () => {
    const a = new VectorAgent({ dimension: 2, metric: 'l2', engine });
    await a.add([]);
    await a.upsert([]);
    expect(await a.remove([])).toBe(0);
    expect(await a.count()).toBe(0);
    await expect(a.save()).rejects.toBeInstanceOf(ValidationError);
  });

  it('calls after close throw ClosedError', async () => {
    const a = new VectorAgent({ dimension: 2, metric: 'l2', engine });
    await a.close();
    await expect(a.search([0, 0])).rejects.toBeInstanceOf(ClosedError);
    // an agent that has searched before (opened: searches skip the open step) is closed just the same
    const b = new VectorAgent({ dimension: 2, metric: 'l2', engine });
    await b.add([{ id: 'x', vector: [1, 1] }]);
    expect(await b.search([0, 0])).toHaveLength(1);
    await b.close();
    await expect(b.search([0, 0])).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('toNumbers', () => {
  it('toNumbers copies a Float32Array into a plain array equal to Array.from, into `out` when given', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { maxLength: 300 }), (xs) => {
        const v = Float32Array.from(xs);
        const fresh = toNumbers(v);
        expect(Array.isArray(fresh)).toBe(true);
        expect(fresh).toEqual(Array.from(v));
        const out = new Array<number>(v.length).fill(-1);
        expect(toNumbers(v, out)).toBe(out);
        expect(out).toEqual(Array.from(v));
      }),
    );
  });
});
