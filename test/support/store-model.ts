/**
 * The reference model of the Store for the model-based tests: random operation sequences
 * (sets with TTL and metadata, deletes, updates, increments, metadata, namespaces, clear,
 * transactions, clock ticks, sweeps), what each one must do to a plain in-memory picture of the
 * keys, and the checks that compare a Store with that picture. The rules restate the Store's
 * documented semantics independently of src/store.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { EventLog, Store } from '../../src/index.js';
import { compareKeys, keyStream } from '../../src/index.js';

export const KEYS = ['a', 'b', 'a/b', 'ä', '😀'] as const;
type Meta = Record<string, unknown>;
type Value = number | string | { n: number; s: string; tags: string[] };

export type TxOp = { kind: 'get' | 'delete'; key: number } | { kind: 'set'; key: number; value: Value } | { kind: 'incr'; key: number; by: number };
export type Op =
  | { kind: 'set'; ns: number; key: number; value: Value; ttl: number | null; meta: Meta | null }
  | { kind: 'delete'; ns: number; key: number }
  | { kind: 'update'; ns: number; key: number; x: number }
  | { kind: 'incr'; ns: number; key: number; by: number }
  | { kind: 'setMetadata'; ns: number; key: number; meta: Meta; merge: boolean }
  | { kind: 'createNs'; ns: number }
  | { kind: 'deleteNs'; ns: number; recursive: boolean }
  | { kind: 'clear'; ns: number }
  | { kind: 'tx'; ns: number; ops: TxOp[] }
  | { kind: 'tick'; ms: number }
  | { kind: 'sweep' }
  | { kind: 'purge'; ns: number; key: number };

const valueArb: fc.Arbitrary<Value> = fc.oneof(
  fc.integer({ min: -100, max: 100 }),
  fc.string({ maxLength: 5 }),
  fc.record({ n: fc.integer({ min: -5, max: 5 }), s: fc.string({ maxLength: 4 }), tags: fc.array(fc.constantFrom('x', 'y', 'z'), { maxLength: 2 }) }),
);
const key = fc.nat({ max: KEYS.length - 1 });
const ns = fc.nat({ max: 1 });
const metaArb = fc.dictionary(fc.constantFrom('m', 'o', 'p'), fc.oneof(fc.integer(), fc.string({ maxLength: 3 })), { maxKeys: 2 });
const txOp: fc.Arbitrary<TxOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom<'get' | 'delete'>('get', 'delete'), key }),
  fc.record({ kind: fc.constant<'set'>('set'), key, value: valueArb }),
  fc.record({ kind: fc.constant<'incr'>('incr'), key, by: fc.integer({ min: -3, max: 3 }) }),
);
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant<'set'>('set'), ns, key, value: valueArb, ttl: fc.option(fc.constantFrom(10, 100, 1000)), meta: fc.option(metaArb) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'delete'>('delete'), ns, key }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'update'>('update'), ns, key, x: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'incr'>('incr'), ns, key, by: fc.integer({ min: -3, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'setMetadata'>('setMetadata'), ns, key, meta: metaArb, merge: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'createNs'>('createNs'), ns }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'deleteNs'>('deleteNs'), ns, recursive: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'clear'>('clear'), ns }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'tx'>('tx'), ns, ops: fc.array(txOp, { minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant<'tick'>('tick'), ms: fc.constantFrom(5, 50, 600) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'sweep'>('sweep') }) },
  // a purge erases the key's earlier events (maybe the set that created its namespace): rebuilt views must still equal the live ones
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'purge'>('purge'), ns, key }) },
);
// plain prototypes (fast-check builds some objects without one), as values read back have
export const opsArb = fc.array(opArb, { minLength: 1, maxLength: 25 }).map((ops) => JSON.parse(JSON.stringify(ops)) as Op[]);

interface Row {
  value: unknown;
  version: number;
  metadata: Meta | null;
  expiresAt: number | null;
}
/** A version of a key: the value after the event, or deleted; `gone`: erased by a purge (or the purge itself). */
type Hist = { deleted: true; gone?: boolean } | { deleted: false; value: unknown; expiresAt: number | null; gone?: boolean };

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const clone = <T>(x: T): T => structuredClone(x);

/** The model: rows (expired ones stay until swept), stream revisions, per-key history, namespaces. */
export class StoreModel {
  rows = new Map<string, Row>();
  revs = new Map<string, number>();
  hist = new Map<string, Hist[]>();
  namespaces = new Set<string>();
  constructor(public now: number) {}

  copy(): StoreModel {
    const m = new StoreModel(this.now);
    m.rows = new Map([...this.rows].map(([k, r]) => [k, clone(r)]));
    m.revs = new Map(this.revs);
    m.hist = new Map([...this.hist].map(([k, h]) => [k, [...h]]));
    m.namespaces = new Set(this.namespaces);
    return m;
  }

  static id = (ns: string, key: string) => `${ns}/${key}`;
  live(ns: string, key: string): Row | undefined {
    const r = this.rows.get(StoreModel.id(ns, key));
    return r && (r.expiresAt === null || r.expiresAt > this.now) ? r : undefined;
  }
  row(ns: string, key: string): Row | undefined {
    return this.rows.get(StoreModel.id(ns, key));
  }
  private bump(ns: string, key: string, h: Hist): number {
    const id = StoreModel.id(ns, key);
    const v = (this.revs.get(id) ?? 0) + 1;
    this.revs.set(id, v);
    this.hist.set(id, [...(this.hist.get(id) ?? []), h]);
    return v;
  }
  /** a value event (set, patch, incr, metadata): the row after it */
  write(ns: string, key: string, value: unknown, metadata: Meta | null, expiresAt: number | null): void {
    const version = this.bump(ns, key, { deleted: false, value: clone(value), expiresAt });
    this.rows.set(StoreModel.id(ns, key), { value: clone(value), version, metadata, expiresAt });
    this.namespaces.add(ns);
  }
  remove(ns: string, key: string): void {
    this.bump(ns, key, { deleted: true });
    this.rows.delete(StoreModel.id(ns, key));
  }
  set(ns: string, key: string, value: unknown, meta: Meta | null, expiresAt: number | null): void {
    this.write(ns, key, value, meta ?? this.row(ns, key)?.metadata ?? null, expiresAt);
  }
  rowsOf(ns: string): string[] {
    return [...this.rows.keys()].filter((id) => id.startsWith(ns + '/')).map((id) => id.slice(ns.length + 1));
  }
}

/** What an op must throw (by class name), or undefined. Applies the op to the model. */
export function applyModel(m: StoreModel, op: Op, nss: readonly string[]): string | undefined {
  switch (op.kind) {
    case 'set':
      m.set(nss[op.ns]!, KEYS[op.key]!, op.value, op.meta, op.ttl === null ? null : m.now + op.ttl);
      return;
    case 'delete':
      if (m.live(nss[op.ns]!, KEYS[op.key]!)) m.remove(nss[op.ns]!, KEYS[op.key]!);
      return;
    case 'update': {
      const [n, k] = [nss[op.ns]!, KEYS[op.key]!];
      const r = m.live(n, k);
      if (!r) return void m.set(n, k, { n: op.x }, null, null);
      if (isPlain(r.value)) {
        if (r.value.n === op.x) return; // no patches, nothing appended
        return void m.write(n, k, { ...r.value, n: op.x }, r.metadata, r.expiresAt);
      }
      return void m.write(n, k, { n: op.x }, r.metadata, r.expiresAt);
    }
    case 'incr': {
      const [n, k] = [nss[op.ns]!, KEYS[op.key]!];
      const row = m.row(n, k);
      if (row && !m.live(n, k)) return void m.set(n, k, op.by, null, null);
      if (row && typeof row.value !== 'number') return 'ValidationError';
      return void m.write(n, k, ((row?.value as number | undefined) ?? 0) + op.by, row?.metadata ?? null, row?.expiresAt ?? null);
    }
    case 'setMetadata': {
      const [n, k] = [nss[op.ns]!, KEYS[op.key]!];
      const r = m.live(n, k);
      if (!r) return 'StateNotFoundError';
      return void m.write(n, k, r.value, op.merge ? { ...(r.metadata ?? {}), ...op.meta } : op.meta, r.expiresAt);
    }
    case 'createNs':
      m.namespaces.add(nss[op.ns]!);
      return;
    case 'deleteNs': {
      const n = nss[op.ns]!;
      if (!m.namespaces.has(n)) return;
      const keys = m.rowsOf(n);
      if (keys.length > 0 && !op.recursive) return 'ValidationError';
      for (const k of keys.sort(compareKeys)) m.remove(n, k);
      m.namespaces.delete(n);
      return;
    }
    case 'clear':
      for (const k of m.rowsOf(nss[op.ns]!)) m.remove(nss[op.ns]!, k);
      return;
    case 'tick':
      m.now += op.ms;
      return;
    case 'sweep':
      for (const [id, r] of [...m.rows]) {
        if (r.expiresAt !== null && r.expiresAt <= m.now) {
          const [n, k] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
          m.remove(n, k);
        }
      }
      return;
    case 'purge': {
      const [n, k] = [nss[op.ns]!, KEYS[op.key]!];
      const id = StoreModel.id(n, k);
      m.rows.delete(id);
      m.hist.set(id, (m.hist.get(id) ?? []).map((h) => ({ ...h, gone: true })));
      m.remove(n, k);
      m.hist.get(id)!.at(-1)!.gone = true;
      m.namespaces.add(n); // every event of a key's stream creates its namespace, a purge's too (docs/store.md)
      return;
    }
    case 'tx':
      throw new Error('transactions are applied by runTx');
  }
}

/** Run a transaction against the Store and the model together; checks every read inside it. */
export async function runTx(store: Store, m: StoreModel, op: Extract<Op, { kind: 'tx' }>, nss: readonly string[]): Promise<void> {
  const n = nss[op.ns]!;
  const next = m.copy();
  // the transaction's picture: live value per key as first read, then its own writes
  const live = new Map<string, { value: unknown } | undefined>();
  const look = (k: string) => (live.has(k) ? live.get(k) : next.live(n, k) && { value: next.live(n, k)!.value });
  let expectedError: string | undefined;
  for (const t of op.ops) {
    const k = KEYS[t.key]!;
    const cur = look(k);
    if (t.kind === 'set') {
      next.set(n, k, t.value, null, null);
      live.set(k, { value: t.value });
    } else if (t.kind === 'delete') {
      if (cur) next.remove(n, k);
      live.set(k, undefined);
    } else if (t.kind === 'incr') {
      if (cur && typeof cur.value !== 'number') {
        expectedError = 'ValidationError';
        break;
      }
      const v = ((cur?.value as number | undefined) ?? 0) + t.by;
      if (cur) next.write(n, k, v, next.row(n, k)!.metadata, next.row(n, k)!.expiresAt);
      else next.set(n, k, v, null, null);
      live.set(k, { value: v });
    } else live.set(k, cur);
  }
  const seen = new Map<string, { value: unknown } | undefined>();
  const run = store.transaction(async (tx) => {
    for (const t of op.ops) {
      const k = KEYS[t.key]!;
      if (t.kind === 'get') {
        const v = await tx.get(k);
        const want = seen.has(k) ? seen.get(k) : m.live(n, k) && { value: m.live(n, k)!.value };
        expect(v).toStrictEqual(want?.value);
        seen.set(k, want);
      } else if (t.kind === 'set') {
        await tx.set(k, t.value);
        seen.set(k, { value: t.value });
      } else if (t.kind === 'delete') {
        await tx.delete(k);
        seen.set(k, undefined);
      } else if (t.kind === 'incr') {
        const cur = seen.has(k) ? seen.get(k) : m.live(n, k) && { value: m.live(n, k)!.value };
        const r = await tx.incr(k, t.by);
        seen.set(k, { value: r });
        expect(r).toBe(((cur?.value as number | undefined) ?? 0) + t.by);
      }
    }
  }, { namespace: n });
  if (expectedError) {
    const e = await run.catch((x: unknown) => x);
    expect((e as Error)?.constructor?.name).toBe(expectedError);
    return;
  }
  await run;
  Object.assign(m, next);
}

/** Run one op on the Store; applies it to the model too and checks the outcome. */
export async function runOp(store: Store, m: StoreModel, op: Op, nss: readonly string[], clock: { t: number }): Promise<void> {
  if (op.kind === 'tx') return runTx(store, m, op, nss);
  const n = 'ns' in op ? nss[op.ns]! : '';
  const k = 'key' in op ? KEYS[op.key]! : '';
  const expected = applyModel(m, op, nss);
  let p: Promise<unknown>;
  switch (op.kind) {
    case 'set': p = store.set(k, op.value, { namespace: n, ...(op.ttl === null ? {} : { ttlMs: op.ttl }), ...(op.meta === null ? {} : { metadata: op.meta }) }); break;
    case 'delete': p = store.delete(k, { namespace: n }); break;
    case 'update': p = store.update(k, (d: any) => (isPlain(d) ? void (d.n = op.x) : { n: op.x }), { namespace: n }); break;
    case 'incr': p = store.incr(k, op.by, { namespace: n }); break;
    case 'setMetadata': p = store.setMetadata(k, op.meta, { namespace: n, merge: op.merge }); break;
    case 'createNs': p = store.createNamespace(n); break;
    case 'deleteNs': p = store.deleteNamespace(n, { recursive: op.recursive }); break;
    case 'clear': p = store.clear({ namespace: n }); break;
    case 'tick': clock.t = m.now; return;
    case 'sweep': p = store.sweep(); break;
    case 'purge': p = store.purge(k, { namespace: n }); break;
  }
  if (expected) {
    const e = await p.catch((x: unknown) => x);
    expect((e as Error)?.constructor?.name, `${op.kind} must fail`).toBe(expected);
  } else await p;
}

/** Compare every read path of the Store with the model. */
export async function checkStore(store: Store, log: EventLog, m: StoreModel, nss: readonly string[]): Promise<void> {
  for (const n of nss) {
    const liveKeys = KEYS.filter((k) => m.live(n, k)).sort(compareKeys);
    expect((await store.list({ namespace: n })).items.map((i) => i.key)).toEqual(liveKeys);
    expect(await store.count(undefined, { namespace: n })).toBe(liveKeys.length);
    const q = liveKeys.filter((k) => {
      const v = m.live(n, k)!.value;
      return isPlain(v) && typeof v.n === 'number' && v.n >= 0;
    });
    expect((await store.query({ path: 'n', op: 'gte', value: 0 }, { namespace: n })).map((r) => r.key)).toEqual(q);
    expect(await store.getMany([...KEYS], { namespace: n })).toStrictEqual(KEYS.map((k) => m.live(n, k)?.value));
    for (const k of KEYS) {
      const r = m.live(n, k);
      expect(await store.get(k, { namespace: n })).toStrictEqual(r?.value);
      expect(await store.has(k, { namespace: n })).toBe(r !== undefined);
      const e = await store.get(k, { namespace: n, includeMetadata: true });
      if (!r) expect(e).toBeUndefined();
      else expect(e).toMatchObject({ key: k, value: r.value, version: r.version, metadata: r.metadata, expiresAt: r.expiresAt });
      const hist = m.hist.get(StoreModel.id(n, k)) ?? [];
      const versions = await store.versions(k, { namespace: n });
      const kept = hist.map((h, i) => [i + 1, h] as const).filter(([, h]) => !h.gone);
      expect(versions.map((v) => [v.version, v.deleted, v.value])).toStrictEqual(kept.map(([v, h]) => [v, h.deleted, h.deleted ? undefined : h.value]).reverse());
      // time travel by version and by the log's event times
      const times: number[] = [];
      for await (const ev of log.read(keyStream(n, k))) times.push(ev.time.getTime());
      for (let i = 0; i < hist.length; i++) {
        const h = hist[i]!;
        expect(await store.get(k, { namespace: n, at: { version: i + 1 } })).toStrictEqual(h.deleted || h.gone ? undefined : h.value);
        const t = times[i]!;
        let j = i;
        while (j + 1 < hist.length && times[j + 1]! <= t) j++;
        const at = hist[j]!;
        const want = at.deleted || at.gone || (at.expiresAt !== null && at.expiresAt <= t) ? undefined : at.value;
        expect(await store.get(k, { namespace: n, at: { time: t } })).toStrictEqual(want);
      }
    }
  }
  const mine = new Set(nss);
  expect((await store.listNamespaces()).filter((n) => mine.has(n))).toEqual([...m.namespaces].filter((n) => mine.has(n)).sort(compareKeys));
}
