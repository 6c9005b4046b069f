import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, CorruptionError, ValidationError } from '../src/index.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';
import { VECTOR_EVENTS, VectorAgent, type VectorMetric } from '../src/vector.js';
import { engines, randomVectors } from './vector-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(dir, `x${n++}`);

const logs: [string, () => EventLog][] = [
  ['MemoryEventLog', () => new MemoryEventLog()],
  ['FileEventLog', () => new FileEventLog({ dir: fresh() })],
];

const D = 6;
const queries = randomVectors(8, D, 99);
async function results(a: VectorAgent<unknown>): Promise<unknown[]> {
  return Promise.all(queries.map((q) => a.search(q, { k: 12 })));
}

describe.each(engines)('VectorAgent logged mode, engine %s', (engine) => {
  describe.each(logs)('over %s', (_name, makeLog) => {
    it('rebuild() and a fresh agent over the log give the live index’s results after random writes', async () => {
      const id = fc.integer({ min: 0, max: 30 }).map((i) => `k${i}`);
      const vec = fc.array(fc.float({ min: -5, max: 5, noNaN: true, noDefaultInfinity: true }), { minLength: D, maxLength: D }).map((v) => v.map((x, i) => (i === 0 ? x + 6 : x)));
      const op = fc.oneof(
        fc.record({ t: fc.constant('upsert' as const), items: fc.uniqueArray(fc.record({ id, vector: vec, data: fc.option(fc.string(), { nil: undefined }) }), { selector: (x) => x.id, maxLength: 10 }) }),
        fc.record({ t: fc.constant('remove' as const), ids: fc.array(id, { maxLength: 10 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 15 }), fc.constantFrom<VectorMetric>('l2', 'ip', 'cosine'), async (ops, metric) => {
          const log = makeLog();
          try {
            const live = new VectorAgent<string>({ dimension: D, metric, engine, log, stream: 'mem' });
            for (const o of ops) {
              if (o.t === 'upsert') await live.upsert(o.items);
              else await live.remove(o.ids);
            }
            const want = await results(live);
            const rev = await live.revision();
            expect(rev).toBe(await log.revision('mem'));
            expect(await live.rebuild()).toEqual({ events: rev, items: await live.count() });
            expect(await results(live)).toEqual(want);
            const other = new VectorAgent<string>({ dimension: D, metric, engine, log, stream: 'mem' });
            expect(await results(other)).toEqual(want);
            expect(await other.count()).toBe(await live.count());
          } finally {
            await log.close();
          }
        }),
        { numRuns: 15 },
      );
    });

    it('open with an index file catches up from the revision recorded in it', async () => {
      const log = makeLog();
      const path = join(fresh() + '.vec');
      const vs = randomVectors(60, D, 1);
      const a = new VectorAgent<number>({ dimension: D, metric: 'l2', engine, log, path });
      await a.add(vs.slice(0, 40).map((vector, i) => ({ id: `v${i}`, vector, data: i })));
      await a.save();
      const savedAt = await a.revision();
      await a.add(vs.slice(40).map((vector, i) => ({ id: `v${40 + i}`, vector, data: 40 + i })));
      await a.remove(['v0', 'v41']);
      const b = await VectorAgent.open<number>(path, { log, engine });
      expect(await b.revision()).toBe(await log.revision('vectors'));
      expect(await b.revision()).toBeGreaterThan(savedAt);
      expect(await b.count()).toBe(58);
      expect(await results(b)).toEqual(await results(a));
      await log.close();
    });

    it('a lost index file is rebuilt from the log on open', async () => {
      const log = makeLog();
      const path = fresh() + '.vec';
      const a = new VectorAgent({ dimension: D, metric: 'cosine', engine, log, path });
      await a.add(randomVectors(30, D, 2).map((vector, i) => ({ id: `v${i}`, vector })));
      await a.save();
      unlinkSync(path);
      const b = new VectorAgent({ dimension: D, metric: 'cosine', engine, log, path });
      expect(await results(b)).toEqual(await results(a));
      await log.close();
    });

    it('a second writer on the same stream gets ConcurrencyError, and succeeds after sync()', async () => {
      const log = makeLog();
      const a = new VectorAgent({ dimension: D, metric: 'ip', engine, log });
      const b = new VectorAgent({ dimension: D, metric: 'ip', engine, log });
      const [v1, v2] = randomVectors(2, D, 3);
      await b.count(); // b has caught up with the empty stream
      await a.add([{ id: 'a', vector: v1! }]);
      await expect(b.add([{ id: 'b', vector: v2! }])).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await b.has('b')).toBe(false);
      expect(await b.sync()).toBe(1);
      await b.add([{ id: 'b', vector: v2! }]);
      await a.sync();
      expect(await results(a)).toEqual(await results(b));
      expect(await a.count()).toBe(2);
      await log.close();
    });

    it('rejected writes append nothing; writes log compact binary vectors', async () => {
      const log = makeLog();
      const a = new VectorAgent<{ t: string }>({ dimension: D, metric: 'l2', engine, log, stream: 's' });
      const [v] = randomVectors(1, D, 4);
      await a.add([{ id: 'x', vector: v!, data: { t: 'x' } }]);
      await expect(a.add([{ id: 'y', vector: [1, 2] }])).rejects.toBeInstanceOf(ValidationError);
      await expect(a.add([{ id: 'x', vector: v! }])).rejects.toBeInstanceOf(ValidationError);
      expect(await a.remove(['nope'])).toBe(0);
      await a.remove(['x']);
      const events = [];
      for await (const e of log.read('s')) events.push(e);
      expect(events.map((e) => e.type)).toEqual([VECTOR_EVENTS.added, VECTOR_EVENTS.removed]);
      const data = events[0]!.data as { ids: string[]; vectors: Uint8Array; data: unknown[] };
      expect(data.ids).toEqual(['x']);
      expect(data.vectors).toBeInstanceOf(Uint8Array);
      expect(new Float32Array(new Uint8Array(data.vectors).buffer)).toEqual(v);
      expect(data.data).toEqual([{ t: 'x' }]);
      expect(events[1]!.data).toEqual({ ids: ['x'] });
      await log.close();
    });

    it('an index file ahead of the log, or a malformed event, is a CorruptionError', async () => {
      const path = fresh() + '.vec';
      const log1 = makeLog();
      const a = new VectorAgent({ dimension: D, metric: 'l2', engine, log: log1, path });
      await a.add(randomVectors(3, D, 5).map((vector, i) => ({ id: `v${i}`, vector })));
      await a.save();
      const log2 = makeLog();
      await expect(VectorAgent.open(path, { log: log2, engine })).rejects.toBeInstanceOf(CorruptionError);
      await log2.append('vectors', [{ type: VECTOR_EVENTS.added, data: { ids: ['z'], vectors: new Uint8Array(5) } }]);
      const b = new VectorAgent({ dimension: D, metric: 'l2', engine, log: log2 });
      await expect(b.count()).rejects.toBeInstanceOf(CorruptionError);
      await log1.close();
      await log2.close();
    });
  });
});
