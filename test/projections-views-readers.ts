/**
 * The readers' contract, run against every backend: query (filters pushed down to SQL on SQLite
 * and PostgreSQL), count, list with cursors, getMany, expired, versions, time travel and audit
 * filters all answer what the reference model says, for random data and random questions.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { emptyModel, foldKeyed, type KeyedModel } from '../src/projections/model.js';
import { matches, sortAndPage, type FilterOp, type ValueFilter } from '../src/projections/views/filter.js';
import { compareKeys, prefixEnd } from '../src/projections/views/keys.js';
import { auditMatches } from '../src/projections/views/audit/memory.js';
import type { AuditFilter, QueryOptions } from '../src/projections/views/types.js';
import { readAll, ofNamespaces, RETENTION, type ViewReaders } from './projections-views-support.js';

const KEYS = ['a', 'ab', 'abc', 'b', 'ba', 'ä', 'äb', '😀', '😀a', 'z\uffff', 'a/b', 'a:b'];
const STR = ['', 'a', 'ab', 'b', 'ä', '😀x', 'A', '\uffff'];
const OPERANDS = [0, 1, -1, 2, 1.5, 'a', 'ab', 'b', '', 'ä', '😀x', true, false, null, 'x'];
const docArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ n: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(1.5)), s: fc.constantFrom(...STR), tags: fc.array(fc.constantFrom('x', 'y', 1, null), { minLength: 1, maxLength: 3 }), f: fc.constantFrom(true, false, null) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(3, 'ab', [1, 'x'], new Map([['n', 1]])) },
);
const writeArb = fc.record({ key: fc.constantFrom(...KEYS), value: docArb, actor: fc.constantFrom('ann', 'bob'), expires: fc.constantFrom(null, 1000, 2000), del: fc.boolean() });
const opArb = fc.constantFrom<FilterOp>('eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'startsWith', 'endsWith');
const genericFilterArb: fc.Arbitrary<ValueFilter> = fc
  .record({ path: fc.constantFrom('n', 's', 'tags', 'f', 'missing', 'tags.0'), op: opArb, v: fc.constantFrom(...OPERANDS), list: fc.array(fc.constantFrom(...OPERANDS), { maxLength: 3 }) })
  .map(({ path, op, v, list }) => {
    if (op === 'in') return { path, op, value: list };
    if (['gt', 'gte', 'lt', 'lte'].includes(op) && typeof v !== 'number' && typeof v !== 'string') return { path, op, value: 1 };
    if ((op === 'startsWith' || op === 'endsWith') && typeof v !== 'string') return { path, op, value: 'a' };
    return { path, op, value: v };
  });
// array membership alone gets its own weight: a generic filter rarely pairs `contains` with the array field
const containsArb: fc.Arbitrary<ValueFilter> = fc.record({ path: fc.constant('tags'), op: fc.constant<FilterOp>('contains'), value: fc.constantFrom('x', 'y', 1, null) });
const filtersArb = fc.oneof({ weight: 3, arbitrary: fc.array(genericFilterArb, { maxLength: 2 }) }, { weight: 1, arbitrary: fc.tuple(containsArb) });
const questionArb = fc.record({
  filters: filtersArb,
  sort: fc.array(fc.record({ path: fc.constantFrom('n', 's'), direction: fc.constantFrom<'asc' | 'desc'>('asc', 'desc') }), { maxLength: 2 }),
  limit: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }),
  offset: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  now: fc.option(fc.constantFrom(500, 1500, 2500), { nil: undefined, freq: 2 }),
  prefix: fc.option(fc.constantFrom('', 'a', 'ä', '😀', 'z', 'q'), { nil: undefined }),
  page: fc.integer({ min: 1, max: 4 }),
  audit: fc.record({ key: fc.option(fc.constantFrom(...KEYS), { nil: undefined }), actor: fc.option(fc.constantFrom('ann', 'bob'), { nil: undefined }), operation: fc.option(fc.constantFrom('set', 'delete'), { nil: undefined }), limit: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }), after: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }) }),
});

export const readersArb = fc.tuple(fc.array(writeArb, { minLength: 1, maxLength: 25 }), fc.array(questionArb, { minLength: 1, maxLength: 4 }));

type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;
export type ReadersInput = Of<typeof readersArb>;


const keysOf = (rows: readonly { key: string }[]) => rows.map((r) => r.key);

/** One run: write the data into namespace `ns` of `log`, wait for the views, then ask every question. */
export async function checkReaders(
  log: EventLog & MultiStreamAppender,
  readers: ViewReaders,
  caughtUp: () => Promise<void>,
  ns: string,
  [writes, questions]: ReadersInput,
): Promise<void> {
  for (const w of writes) {
    const e = w.del ? keyedEvents.deleted({ actor: w.actor }) : keyedEvents.set({ value: w.value, expiresAt: w.expires, metadata: { by: w.actor } }, { actor: w.actor });
    await log.append(keyStream(ns, w.key), [e]);
  }
  await caughtUp();
  const model: KeyedModel = foldKeyed(emptyModel(), ofNamespaces(await readAll(log), (n) => n === ns), RETENTION);
  const live = [...model.kv.values()];
  for (const q of questions) {
    const opts: QueryOptions = { sort: q.sort, limit: q.limit, offset: q.offset, now: q.now };
    const want = sortAndPage(live.filter((e) => matches(e, q.filters, q.now)), opts);
    expect(keysOf(await readers.kv.query(ns, q.filters, opts)), `query ${JSON.stringify(q.filters)} ${JSON.stringify(opts)}`).toEqual(keysOf(want));
    expect(await readers.kv.count(ns, q.filters, { now: q.now })).toBe(live.filter((e) => matches(e, q.filters, q.now)).length);
    // list, page by page through the cursor
    const end = q.prefix ? prefixEnd(q.prefix) : undefined;
    const listed = live
      .filter((e) => matches(e, [], q.now) && (!q.prefix || (compareKeys(e.key, q.prefix) >= 0 && (end === undefined || compareKeys(e.key, end) < 0))))
      .map((e) => e.key)
      .sort(compareKeys);
    const pages: string[] = [];
    for (let after: string | undefined, i = 0; i < 50; i++) {
      const page = await readers.kv.list(ns, { prefix: q.prefix, after, limit: q.page, now: q.now });
      pages.push(...keysOf(page));
      if (page.length < q.page) break;
      after = page[page.length - 1]!.key;
    }
    expect(pages, `list prefix ${JSON.stringify(q.prefix)}`).toEqual(listed);
    const got = await readers.kv.getMany(ns, KEYS, { now: q.now });
    expect(got.map((e) => e?.version ?? null)).toEqual(KEYS.map((k) => { const e = model.kv.get(`${ns}/${k}`); return e && matches(e, [], q.now) ? e.version : null; }));
    const f: AuditFilter = { namespace: ns, ...q.audit };
    const posBase = model.audit[0]?.position ?? 0;
    if (f.after !== undefined) f.after += posBase;
    expect((await readers.audit.audit(f)).map((a) => a.position)).toEqual(model.audit.filter((a) => auditMatches(a, f)).slice(0, f.limit ?? Infinity).map((a) => a.position));
  }
  const expired = await readers.kv.expired(1500, 1_000_000);
  expect(expired.filter((e) => e.namespace === ns).map((e) => e.key).sort(compareKeys)).toEqual(live.filter((e) => e.expiresAt !== null && e.expiresAt <= 1500).map((e) => e.key).sort(compareKeys));
  for (const k of KEYS) {
    const all = model.versions.get(`${ns}/${k}`) ?? [];
    expect((await readers.versions.versions(ns, k, { limit: 3 })).map((v) => v.version)).toEqual([...all].reverse().slice(0, 3).map((v) => v.version));
    for (const v of [1, 2, all.length]) {
      const at = await readers.versions.at(ns, k, { version: v });
      expect(at?.version ?? null).toEqual([...all].reverse().find((x) => x.version <= v)?.version ?? null);
    }
    const mid = all[Math.floor(all.length / 2)];
    if (mid) expect((await readers.versions.at(ns, k, { time: mid.time }))?.version).toBe([...all].reverse().find((x) => x.time <= mid.time)!.version);
  }
}
