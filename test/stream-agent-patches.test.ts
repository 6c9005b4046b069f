import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { produce, type Draft } from 'immer';
import { StreamAgent } from '../src/agents/stream-agent.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';

interface Doc {
  counts: Map<string, number>;
  seen: Set<string | number>;
  at: Date;
  list: number[];
  nested: { deep: { label: string; big?: bigint } };
}
const initial: Doc = { counts: new Map([['a', 1]]), seen: new Set([1, 'x']), at: new Date(0), list: [1, 2, 3], nested: { deep: { label: 'start' } } };

/** Recipes over every container the codec supports; each is small, so update stores a delta. */
type Step = (d: Draft<Doc>) => void;
const stepArb: fc.Arbitrary<{ name: string; step: Step }> = fc.oneof(
  fc.tuple(fc.constantFrom('a', 'b', 'c'), fc.integer()).map(([k, v]) => ({ name: `counts.set(${k},${v})`, step: (d: Draft<Doc>) => void d.counts.set(k, v) })),
  fc.constantFrom('a', 'b').map((k) => ({ name: `counts.delete(${k})`, step: (d: Draft<Doc>) => void d.counts.delete(k) })),
  fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom('x', 'y')).map((v) => ({ name: `seen.add(${v})`, step: (d: Draft<Doc>) => void d.seen.add(v) })),
  fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom('x', 'y')).map((v) => ({ name: `seen.delete(${v})`, step: (d: Draft<Doc>) => void d.seen.delete(v) })),
  fc.date({ noInvalidDate: true }).map((t) => ({ name: `at=${t.toISOString()}`, step: (d: Draft<Doc>) => void (d.at = new Date(t)) })),
  fc.integer().map((v) => ({ name: `list.push(${v})`, step: (d: Draft<Doc>) => void d.list.push(v) })),
  fc.constant({ name: 'list.pop()', step: (d: Draft<Doc>) => void d.list.pop() }),
  fc.constant({ name: 'list.shift()', step: (d: Draft<Doc>) => void d.list.shift() }),
  fc.string({ maxLength: 5 }).map((s) => ({ name: `label=${s}`, step: (d: Draft<Doc>) => void (d.nested.deep.label = s) })),
  fc.bigInt().map((b) => ({ name: `big=${b}`, step: (d: Draft<Doc>) => void (d.nested.deep.big = b) })),
);

describe('StreamAgent $patch events', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const backends: [string, () => Promise<{ open: () => EventLog; reopen: () => Promise<EventLog> }>][] = [
    [
      'MemoryEventLog',
      async () => {
        const log = new MemoryEventLog();
        cleanups.push(() => log.close());
        return { open: () => log, reopen: async () => log };
      },
    ],
    [
      'FileEventLog',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'dgent-patches-'));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        let log = new FileEventLog({ dir });
        cleanups.push(() => log.close());
        return {
          open: () => log,
          reopen: async () => {
            await log.close();
            log = new FileEventLog({ dir });
            return log;
          },
        };
      },
    ],
    [
      'SqliteEventLog',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'dgent-patches-'));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        let log = new SqliteEventLog({ path: join(dir, 'events.db') });
        cleanups.push(() => log.close());
        return {
          open: () => log,
          reopen: async () => {
            await log.close();
            log = new SqliteEventLog({ path: join(dir, 'events.db') });
            return log;
          },
        };
      },
    ],
  ];

  for (const [name, make] of backends) {
    it(`update on Map/Set/Date/BigInt states appends $patch events that replay to the same state after reopen (${name})`, async () => {
      const place = await make();
      let round = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 12 }), async (steps) => {
          const stream = `doc-${round++}`;
          const a = new StreamAgent<never, Doc>({ log: place.open(), stream, initial });
          let model = initial;
          let changes = 0;
          for (const s of steps) {
            const got = await a.update(s.step);
            const next = produce(model, s.step);
            if (next !== model) changes++;
            model = next;
            expect(got).toStrictEqual(model);
          }
          await a.close();
          const log = await place.reopen();
          const b = new StreamAgent<never, Doc>({ log, stream, initial });
          expect(await b.load()).toStrictEqual(model);
          const types: string[] = [];
          for await (const e of log.read(stream)) types.push(e.type);
          expect(types).toEqual(Array.from({ length: changes }, (_, i) => (i === 0 ? '$state' : '$patch')));
        }),
        { numRuns: name === 'MemoryEventLog' ? 100 : 25 },
      );
    });
  }

  it('an update stores only the changed path, not the whole state', async () => {
    const log = new MemoryEventLog();
    cleanups.push(() => log.close());
    const big = { items: Array.from({ length: 1000 }, (_, i) => ({ i, text: 'x'.repeat(20) })), n: 0 };
    const a = new StreamAgent<never, typeof big>({ log, stream: 'big', initial: big });
    await a.update((d) => void (d.n = 1));
    await a.update((d) => void (d.n = 2));
    await a.update((d) => void (d.items[500]!.text = 'changed'));
    const sizes: number[] = [];
    for await (const e of log.read('big')) sizes.push(JSON.stringify(e.data).length);
    expect(sizes[0]).toBeGreaterThan(20_000); // the first event of a stream holds the whole state
    expect(sizes.slice(1).every((s) => s < 200)).toBe(true);
    expect((await a.load()).items[500]).toEqual({ i: 500, text: 'changed' });
  });

  it('a change to object members of a Set or object keys of a Map is stored as $state, since patches match them by identity', async () => {
    const log = new MemoryEventLog();
    cleanups.push(() => log.close());
    type S = { tags: Set<{ id: number }>; byDate: Map<Date, string> };
    const a = new StreamAgent<never, S>({ log, stream: 'objs', initial: { tags: new Set([{ id: 1 }]), byDate: new Map([[new Date(1), 'one']]) } });
    await a.update((d) => void d.byDate.set(new Date(2), 'two')); // the stream's first event: always a whole state
    await a.update((d) => {
      for (const t of d.tags) if (t.id === 1) d.tags.delete(t);
      d.tags.add({ id: 2 });
    });
    await a.update((d) => {
      for (const k of d.byDate.keys()) if (k.getTime() === 1) d.byDate.set(k, 'uno');
    });
    const types: string[] = [];
    for await (const e of log.read('objs')) types.push(e.type);
    expect(types).toEqual(['$state', '$state', '$state']);
    const fresh = new StreamAgent<never, S>({ log, stream: 'objs' });
    expect(await fresh.load()).toStrictEqual({ tags: new Set([{ id: 2 }]), byDate: new Map([[new Date(1), 'uno'], [new Date(2), 'two']]) });
  });
});
