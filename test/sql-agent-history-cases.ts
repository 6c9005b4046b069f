/**
 * SQLAgent history queries, registered for SQLite (test/sql-agent-history.test.ts) and PostgreSQL
 * (test/sql-agent-history.int.test.ts): a fast-check property against the Store's in-process
 * evaluation of the same filters over history(), migrations, damaged rows and bad input.
 */
import { expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { CorruptionError, ValidationError, matchesFilters, type SQLAgent, type ValueFilter } from '../src/index.js';
import type { KvEntry } from '../src/projections/views/rows.js';

/** Opens agents over one database; `corrupt` damages the newest row of an agent in place. */
export interface SqlHistoryPlace {
  open(id: string, options?: { retention?: number; migrations?: Record<number, (s: unknown) => unknown> }): SQLAgent<any>;
  corrupt(id: string): Promise<void>;
}

// Values chosen to collide: equal, prefixes, code point order, NUL and lone surrogates (which
// SQLite's string functions and PostgreSQL's jsonb cannot take), and the codec's tagged values.
const PRIMS = [0, 1, -1, 2.5, 3, 'a', 'ab', 'b', 'ba', '', 'é', '😀', 'a\u0000b', '\ud800', true, false, null] as const;
const prim = fc.constantFrom(...PRIMS);
const special = fc.constantFrom(-0, Number.NaN, Number.POSITIVE_INFINITY, undefined, 10n, new Date(5));
const leaf = fc.oneof({ weight: 6, arbitrary: prim }, { weight: 1, arbitrary: special }, { weight: 1, arbitrary: fc.array(prim, { maxLength: 3 }) });

const stateArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        n: leaf,
        s: leaf,
        tags: fc.array(prim, { maxLength: 3 }),
        o: fc.record({ k: leaf, arr: fc.array(prim, { maxLength: 2 }), '0': prim }, { requiredKeys: [] }),
        d: fc.oneof(fc.constant(new Date(1)), fc.record({ v: prim }), fc.constant(new Map([['v', 1]]))),
        arr: fc.oneof(fc.array(prim, { maxLength: 3 }), fc.record({ '1': prim, '0': prim }, { requiredKeys: [] })),
        $dgent: prim,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: leaf },
  { weight: 1, arbitrary: fc.constant(new Map([['v', 1]])) },
);

const PATHS = ['n', 's', 'tags', 'o', 'o.k', 'o.arr', 'o.arr.0', 'o.0', 'd', 'd.v', 'arr', 'arr.0', 'arr.1', 'missing', 'v', '0', 'tags.1'];
const path = fc.constantFrom(...PATHS);
const order = fc.constantFrom<string | number>(0, 1, 2.5, -1, 'a', 'b', 'ab', '', 'é', '😀', '\ud800');
export const filterArb: fc.Arbitrary<ValueFilter> = fc.oneof(
  fc.record({ path, op: fc.constantFrom('eq' as const, 'ne' as const, 'contains' as const), value: prim }),
  fc.record({ path, op: fc.constant('in' as const), value: fc.array(prim, { maxLength: 3 }) }),
  fc.record({ path, op: fc.constantFrom('gt' as const, 'gte' as const, 'lt' as const, 'lte' as const), value: order }),
  fc.record({ path, op: fc.constantFrom('startsWith' as const, 'endsWith' as const), value: fc.constantFrom('', 'a', 'b', 'ab', 'é', '😀', 'a\u0000') }),
);

/** The Store's in-process meaning of the filters (the memory view's), on a decoded state. */
function inProcess(state: unknown, filters: readonly ValueFilter[]): boolean {
  return matchesFilters({ value: state, expiresAt: null } as KvEntry, filters);
}

const bound = fc.option(fc.record({ at: fc.nat(), delta: fc.integer({ min: -1, max: 1 }) }), { nil: undefined });

let seq = 0;

/** Register the SQLAgent history-query tests over `place`. */
export function sqlHistoryCases(place: SqlHistoryPlace, runs: number): void {
  it(`queryHistory and countHistory equal the in-process evaluation of the same filters over history() (fast-check, ${runs} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ state: stateArb, step: fc.integer({ min: 0, max: 2 }) }), { minLength: 1, maxLength: 10 }),
        fc.oneof(filterArb, fc.array(filterArb, { minLength: 1, maxLength: 3 })),
        fc.option(fc.integer({ min: 2, max: 6 }), { nil: undefined }),
        bound,
        bound,
        fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        async (saves, filter, retention, since, until, limit) => {
          vi.useFakeTimers({ toFake: ['Date'] });
          let now = Date.now(); // the faked clock starts at the real time
          const agent = place.open(`p${seq++}`, retention === undefined ? {} : { retention });
          try {
            const times: number[] = [];
            for (const s of saves) {
              now += s.step;
              vi.setSystemTime(now);
              await agent.save(s.state);
              times.push(now);
            }
            const ms = (b: typeof since) => (b === undefined ? undefined : times[b.at % times.length]! + b.delta);
            const window = { since: ms(since), until: ms(until) };
            const filters = Array.isArray(filter) ? filter : [filter];
            const matching = (await agent.history(window)).filter((s) => inProcess(s, filters));
            expect(await agent.queryHistory(filter, { ...window, limit })).toStrictEqual(matching.slice(0, limit));
            expect(await agent.countHistory(filter, window)).toBe(matching.length);
            expect(await agent.countHistory(undefined, window)).toBe((await agent.history(window)).length);
          } finally {
            await agent.close();
            vi.useRealTimers();
          }
        },
      ),
      { numRuns: runs },
    );
  }, 300_000);

  it('states SQL cannot judge exactly are judged in process: index segments on objects, tagged values on the path, NUL and lone surrogates', async () => {
    const a = place.open(`e${seq++}`);
    const states: unknown[] = [
      { o: { '0': 'a' }, arr: { '1': 'x' } },
      { o: ['a'], arr: ['w', 'x'] },
      { d: new Date(1) },
      { d: { v: 1 } },
      new Map([['v', 1]]),
      { v: 1 },
      { $dgent: 'x', k: 1, v: ['k', 1] },
      { k: 1 },
      { s: 'a\u0000b' },
      { s: '\ud800' },
      { s: 'ab' },
      { s: '😀' },
      { n: -0 },
      { n: Number.NaN },
      { n: 0 },
    ];
    for (const s of states) await a.save(s);
    const filters: ValueFilter[] = [
      { path: 'o.0', op: 'eq', value: 'a' },
      { path: 'arr.1', op: 'eq', value: 'x' },
      { path: 'd.v', op: 'eq', value: 1 },
      { path: 'd.v', op: 'gte', value: 0 },
      { path: 'v', op: 'eq', value: 1 },
      { path: 'v', op: 'contains', value: 'k' },
      { path: 'v.0', op: 'ne', value: 'k' },
      { path: 'k', op: 'eq', value: 1 },
      { path: 's', op: 'startsWith', value: 'a\u0000' },
      { path: 's', op: 'eq', value: 'a\u0000b' },
      { path: 's', op: 'contains', value: '\u0000' },
      { path: 's', op: 'eq', value: '\ud800' },
      { path: 's', op: 'gt', value: '\ud800' },
      { path: 's', op: 'lt', value: '\ud800' },
      { path: 's', op: 'in', value: ['\ud800', 'ab'] },
      { path: 'n', op: 'ne', value: 0 },
      { path: 'n', op: 'lte', value: 0 },
    ];
    const all = await a.history();
    for (const f of filters) {
      const want = all.filter((s) => inProcess(s, [f]));
      expect(await a.queryHistory(f), JSON.stringify(f)).toStrictEqual(want);
      expect(await a.countHistory(f), JSON.stringify(f)).toBe(want.length);
    }
    await a.close();
  });

  it('states stored under an older schema version are migrated, then judged: filters see the migrated shape', async () => {
    const id = `m${seq++}`;
    const v0 = place.open(id);
    await v0.save({ st: 'open', n: 1 });
    await v0.save({ st: 'done', n: 2 });
    await v0.close();
    const v1 = place.open(id, { migrations: { 1: (s) => ({ status: (s as { st: string }).st, n: (s as { n: number }).n }) } });
    await v1.save({ status: 'done', n: 3 });
    await v1.save({ status: 'open', n: 4 });
    expect(await v1.queryHistory({ path: 'status', op: 'eq', value: 'done' })).toStrictEqual([{ status: 'done', n: 3 }, { status: 'done', n: 2 }]);
    expect(await v1.countHistory({ path: 'status', op: 'eq', value: 'open' })).toBe(2);
    expect(await v1.queryHistory({ path: 'st', op: 'ne', value: null }, { limit: 3 })).toStrictEqual([{ status: 'open', n: 4 }, { status: 'done', n: 3 }, { status: 'done', n: 2 }]);
    await v1.close();
  });

  it('a damaged stored state is CorruptionError from queryHistory and countHistory, as from history()', async () => {
    const id = `c${seq++}`;
    const a = place.open(id);
    await a.save({ n: 1 });
    await a.save({ n: 2 });
    await a.close();
    await place.corrupt(id);
    const b = place.open(id);
    await expect(b.history()).rejects.toBeInstanceOf(CorruptionError);
    await expect(b.queryHistory({ path: 'n', op: 'gte', value: 0 })).rejects.toBeInstanceOf(CorruptionError);
    await expect(b.countHistory({ path: 'n', op: 'gte', value: 0 })).rejects.toBeInstanceOf(CorruptionError);
    await b.close();
  });

  it('bad filters and windows are ValidationError: unknown operator, bad paths, bad operands, bad times, limit on count', async () => {
    const a = place.open(`v${seq++}`);
    await a.save({ n: 1, s: 'x' });
    const bad: unknown[] = [
      { path: 'n', op: 'like', value: 'x' },
      { path: 'n', op: 'eq' },
      { path: 'a..b', op: 'eq', value: 1 },
      { path: 'a-b', op: 'eq', value: 1 },
      { path: '', op: 'eq', value: 1 },
      { path: 'a.01', op: 'eq', value: 1 },
      { path: "a'); drop table x; --", op: 'eq', value: 1 },
      { path: 'n', op: 'gt', value: true },
      { path: 'n', op: 'in', value: 1 },
      { path: 'n', op: 'eq', value: { x: 1 } },
      { path: 'n', op: 'startsWith', value: 1 },
      [{ path: 'n', op: 'eq', value: 1 }, null],
      null,
    ];
    for (const f of bad) {
      await expect(a.queryHistory(f as ValueFilter), JSON.stringify(f)).rejects.toBeInstanceOf(ValidationError);
      await expect(a.countHistory(f as ValueFilter), JSON.stringify(f)).rejects.toBeInstanceOf(ValidationError);
    }
    const ok: ValueFilter = { path: 'n', op: 'eq', value: 1 };
    await expect(a.queryHistory(ok, { since: 'last week' })).rejects.toBeInstanceOf(ValidationError);
    await expect(a.queryHistory(ok, { limit: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(a.countHistory(ok, { limit: 1 } as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(a.countHistory(ok, { until: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
    expect(await a.queryHistory(ok)).toStrictEqual([{ n: 1, s: 'x' }]);
    expect(await a.queryHistory(ok, { limit: 0 })).toStrictEqual([]);
    await a.close();
  });
}
