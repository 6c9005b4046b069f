/**
 * Store query and count where SQL pushdown and in-process evaluation used to disagree, on memory,
 * SQLite, PostgreSQL (default views) and Redis views over a PostgreSQL log:
 * - a digit path segment on an object (`a.0` on `{ a: { '0': 'x' } }`: the key, as in process;
 *   SQLite's JSON path read it as an array index only);
 * - a path into a value the codec tags (a Date, a Map, an object with a `$dgent` key): nothing is
 *   reachable there in process, so nothing is in SQL either (SQL read the tagged tree's fields);
 * - a NUL or lone surrogate in a string operand: ValidationError on every backend (PostgreSQL
 *   raised a raw DatabaseError).
 * - a value holding NUL or a lone surrogate in a string: PostgreSQL's jsonb cannot hold it, so its
 *   row has no `value_jsonb` and the SQL filters skipped it (or, with `ne`, let it through): such
 *   rows are judged in process and merged into the SQL rows in sort order, before limit and offset.
 * Fast-check properties draw values and filters over these shapes and check every backend's
 * query (with sort, limit and offset) and count against the filters' in-process meaning
 * (matchesFilters) and the memory Store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchesFilters, MemoryEventLog, SqliteEventLog, Store, ValidationError, type EventLog, type ValueFilter, type ViewStorage } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { RedisViewStorage } from '../src/redis.js';
import { compareKeys } from '../src/projections/views/keys.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const pg = await requireService('PostgreSQL', postgresUrl());
const redis = await requireService('Redis', REDIS_URL);
const dir = mkdtempSync(join(tmpdir(), 'dgent-query-edges-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

interface Place {
  log: EventLog;
  views?: ViewStorage;
  close(): Promise<void>;
}
const places: { name: string; up: boolean; open(): Place }[] = [
  { name: 'memory', up: true, open: () => { const log = new MemoryEventLog(); return { log, close: () => log.close() }; } },
  { name: 'SQLite', up: true, open: () => { const log = new SqliteEventLog({ path: join(dir, 'q.db') }); return { log, close: () => log.close() }; } },
  {
    name: 'PostgreSQL',
    up: pg,
    open: () => {
      const schema = uniqueSchema('dgq');
      schemas.push(schema);
      const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
      return { log, close: () => log.close() };
    },
  },
  {
    name: 'Redis views over PostgreSQL',
    up: pg && redis,
    open: () => {
      const schema = uniqueSchema('dgqr');
      schemas.push(schema);
      const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
      const views = new RedisViewStorage({ url: REDIS_URL, prefix: uniqueName('dgq') });
      return { log, views, close: async () => (await views.close(), await log.close()) };
    },
  },
];

const leaf = fc.oneof(fc.constantFrom('x', 'y', 0, 1, 5, true, null), fc.constant(new Date(5)), fc.constant(new Map([['v', 5]])));
const node = (inner: fc.Arbitrary<unknown>) =>
  fc.oneof(
    inner,
    fc.array(inner, { maxLength: 2 }),
    fc.dictionary(fc.constantFrom('0', '1', 'v', 'b', '$dgent'), inner, { maxKeys: 3 }),
  );
const valueArb = fc.dictionary(fc.constantFrom('a', 'd'), node(node(leaf)), { minKeys: 1, maxKeys: 2 });
const pathArb = fc.constantFrom('a', 'a.0', 'a.1', 'a.v', 'a.0.v', 'a.b.0', 'd', 'd.v', 'd.0', 'a.0.0');
const filterArb: fc.Arbitrary<ValueFilter> = fc.oneof(
  fc.record({ path: pathArb, op: fc.constantFrom('eq' as const, 'ne' as const), value: fc.constantFrom('x', 5, 0, true, null) }),
  fc.record({ path: pathArb, op: fc.constant('in' as const), value: fc.constantFrom(['x', 5], [null], []) }),
  fc.record({ path: pathArb, op: fc.constantFrom('gt' as const, 'lte' as const), value: fc.constantFrom(1, 'x') }),
  fc.record({ path: pathArb, op: fc.constant('contains' as const), value: fc.constantFrom('x', 5, null) }),
  fc.record({ path: pathArb, op: fc.constantFrom('startsWith' as const, 'endsWith' as const), value: fc.constantFrom('x', '') }),
);

// values with NUL and lone surrogates in some strings (PostgreSQL keeps no jsonb for them), beside plain ones
const str = fc.constantFrom('a', 'ab', 'b', 'x', '', 'a\u0000', '\u0000', 'a\u0000b', 'x\u0000', '\ud800', 'a\udc00b');
const nulValueArb = fc.record(
  { s: str, n: fc.constantFrom(0, 1, 2, 1.5, -1), t: fc.array(str, { maxLength: 2 }), o: fc.record({ s: str }, { requiredKeys: [] }) },
  { requiredKeys: [] },
).map((v) => JSON.parse(JSON.stringify(v)) as Record<string, unknown>); // plain prototypes, as values read back have (JSON keeps NUL and lone surrogates)
const nulPath = fc.constantFrom('s', 'n', 't', 't.0', 'o.s', 'missing');
const nulFilterArb: fc.Arbitrary<ValueFilter> = fc.oneof(
  fc.record({ path: nulPath, op: fc.constantFrom('eq' as const, 'ne' as const), value: fc.constantFrom('a', 'x', '', 1, null) }),
  fc.record({ path: nulPath, op: fc.constant('in' as const), value: fc.constantFrom(['a', 1], ['ab', 'x'], []) }),
  fc.record({ path: nulPath, op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const), value: fc.constantFrom(1, 'a', 'ab', '') }),
  fc.record({ path: nulPath, op: fc.constant('contains' as const), value: fc.constantFrom('a', 'b', '', 'x') }),
  fc.record({ path: nulPath, op: fc.constantFrom('startsWith' as const, 'endsWith' as const), value: fc.constantFrom('a', 'b', '', 'x') }),
);
const nulQueryArb = fc.record({
  filters: fc.array(nulFilterArb, { maxLength: 2 }),
  sort: fc.array(fc.record({ path: fc.constantFrom('s', 'n', 'o.s', 't'), direction: fc.constantFrom('asc' as const, 'desc' as const) }), { maxLength: 2 }),
  limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  offset: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
});

for (const place of places) {
  describe.skipIf(!place.up)(`Store query edge cases: ${place.name}`, () => {
    let p: Place;
    let store: Store;
    beforeAll(async () => {
      p = place.open();
      store = new Store({ log: p.log, views: p.views, sweepIntervalMs: 0 });
      await store.ready();
    });
    afterAll(async () => {
      await store?.close();
      await p?.close();
    });

    it('examples: a digit segment on an object is its key; paths into tagged values find nothing', async () => {
      const ns = uniqueName('ex');
      await store.set('obj0', { a: { '0': 'x' } }, { namespace: ns });
      await store.set('arr0', { a: ['x'] }, { namespace: ns });
      await store.set('date', { d: new Date(5), n: 1 }, { namespace: ns });
      await store.set('tagkey', { d: { $dgent: 'mine', v: 5 } }, { namespace: ns });
      const keys = async (f: ValueFilter | ValueFilter[], sort?: string) => (await store.query(f, { namespace: ns, sort: sort ? [{ path: sort }] : undefined })).map((r) => r.key);
      expect(await keys({ path: 'a.0', op: 'eq', value: 'x' })).toEqual(['arr0', 'obj0']);
      expect(await keys({ path: 'a.0', op: 'ne', value: 'x' })).toEqual(['date', 'tagkey']);
      expect(await store.count({ path: 'a.0', op: 'startsWith', value: 'x' }, { namespace: ns })).toBe(2);
      expect(await keys({ path: 'd.v', op: 'eq', value: 5 })).toEqual([]);
      expect(await keys({ path: 'd.v', op: 'ne', value: 5 })).toEqual(['arr0', 'date', 'obj0', 'tagkey']);
      expect(await keys({ path: 'n', op: 'eq', value: 1 }, 'd.v')).toEqual(['date']);
    });

    it('a NUL or a lone surrogate in a string operand is a ValidationError', async () => {
      for (const value of ['a\u0000b', '\u0000', '\ud800']) {
        for (const op of ['eq', 'ne', 'contains', 'startsWith', 'endsWith', 'gt'] as const) await expect(store.query({ path: 's', op, value })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.query({ path: 's', op: 'in', value: ['ok', value] })).rejects.toBeInstanceOf(ValidationError);
        await expect(store.count({ path: 's', op: 'eq', value })).rejects.toBeInstanceOf(ValidationError);
      }
    });

    it('query (sorted) and count equal the filters\' in-process meaning on values with digit keys, arrays and tagged values (fast-check)', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(valueArb, { minLength: 1, maxLength: 6 }), fc.array(filterArb, { minLength: 1, maxLength: 2 }), pathArb, async (values, filters, sortPath) => {
          const ns = `${uniqueName('q')}${run++}`;
          const stored = new Map<string, unknown>();
          // every key set once, odd ones with metadata; then key 0 set again without (it keeps its metadata, version 2)
          const writes: [string, unknown, Record<string, unknown> | undefined][] = values.map((v, i) => [`k${i}`, v, i % 2 === 1 ? { i } : undefined]);
          writes.push(['k0', values[0], undefined]);
          for (const [k, v, metadata] of writes) {
            await store.set(k, v, { namespace: ns, metadata });
            stored.set(k, await store.get(k, { namespace: ns }));
          }
          const want = [...stored].filter(([key, value]) => matchesFilters({ namespace: ns, key, value, version: 1, metadata: null, createdAt: 0, updatedAt: 0, expiresAt: null, position: 0 }, filters)).map(([k]) => k).sort(compareKeys);
          const got = (await store.query(filters, { namespace: ns })).map((r) => r.key);
          expect(got).toEqual(want);
          expect(await store.count(filters, { namespace: ns })).toBe(want.length);
          // sorting by any path (reachable or not) keeps the same set, and all backends order alike: compared with memory's order below
          const sorted = (await store.query(filters, { namespace: ns, sort: [{ path: sortPath }] })).map((r) => r.key);
          expect([...sorted].sort(compareKeys)).toEqual(want);
          const memory = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
          try {
            for (const [k, v, metadata] of writes) await memory.set(k, v, { namespace: ns, metadata });
            // whole results (key, value, version, metadata), in the same order
            const full = await store.query(filters, { namespace: ns, sort: [{ path: sortPath }] });
            expect(full).toEqual(await memory.query(filters, { namespace: ns, sort: [{ path: sortPath }] }));
            expect(full.map((r) => r.key)).toEqual(sorted);
          } finally {
            await memory.close();
          }
        }),
        { numRuns: place.name === 'memory' || place.name === 'SQLite' ? 100 : 60 },
      );
    }, 300_000);

    it('values holding NUL or lone surrogates: query (sort, limit, offset) and count equal the memory Store and the filters\' meaning (fast-check)', async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(nulValueArb, { minLength: 1, maxLength: 7 }), fc.array(nulQueryArb, { minLength: 1, maxLength: 3 }), async (values, queries) => {
          const ns = `${uniqueName('z')}${run++}`;
          const memory = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
          try {
            for (const [i, v] of values.entries()) {
              await store.set(`k${i}`, v, { namespace: ns });
              await memory.set(`k${i}`, v, { namespace: ns });
            }
            expect(await store.getMany(values.map((_, i) => `k${i}`), { namespace: ns })).toStrictEqual(values);
            for (const q of queries) {
              const opts = { namespace: ns, sort: q.sort, limit: q.limit, offset: q.offset };
              const want = (await memory.query(q.filters, opts)).map((r) => [r.key, r.value]);
              expect((await store.query(q.filters, opts)).map((r) => [r.key, r.value])).toStrictEqual(want);
              const all = values.map((value, i) => ({ namespace: ns, key: `k${i}`, value, version: 1, metadata: null, createdAt: 0, updatedAt: 0, expiresAt: null, position: 0 }));
              const n = all.filter((e) => matchesFilters(e, q.filters)).length;
              expect(await memory.count(q.filters, { namespace: ns })).toBe(n);
              expect(await store.count(q.filters, { namespace: ns })).toBe(n);
            }
          } finally {
            await memory.close();
          }
        }),
        { numRuns: place.name === 'memory' || place.name === 'SQLite' ? 100 : 60 },
      );
    }, 300_000);
  });
}
