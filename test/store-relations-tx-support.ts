/**
 * Relationships in transactions and subscriptions, as properties any Store can be checked with
 * (memory and SQLite in store-relations-tx.test.ts, PostgreSQL and Redis views in the .int file):
 * random transactions of sets, deletes, relates, unrelates and related / relatedTo reads against
 * a model of keys and relations, and every relate / unrelate heard by a subscription.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { StateNotFoundError } from '../src/core/errors.js';
import { relationsReader } from '../src/projections/views/relations/projection.js';
import type { Store } from '../src/store/store.js';
import type { StoreChange } from '../src/store/subscribe.js';
import type { StoreTransaction } from '../src/store/transaction.js';

/** Keys of the runs: three in one namespace, one in another (relations across namespaces). */
export const TX_KEYS = [
  { namespace: 'n', key: 'a' },
  { namespace: 'n', key: 'b' },
  { namespace: 'n', key: 'c' },
  { namespace: 'm', key: 'a' },
] as const;
export const TX_PREDICATES = ['p', 'q'] as const;

export type TxOp =
  | { kind: 'set' | 'delete'; k: number }
  | { kind: 'relate' | 'unrelate'; s: number; p: number; o: number }
  | { kind: 'related' | 'relatedTo'; k: number; p: number | null };

export const txOpArb: fc.Arbitrary<TxOp> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), k: fc.nat({ max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), k: fc.nat({ max: 3 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constantFrom('relate' as const, 'relate' as const, 'unrelate' as const), s: fc.nat({ max: 3 }), p: fc.nat({ max: 1 }), o: fc.nat({ max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('related' as const, 'relatedTo' as const), k: fc.nat({ max: 3 }), p: fc.option(fc.nat({ max: 1 })) }) },
);
/** Transactions: each a list of ops, and whether its function throws at the end (nothing appended). */
export const txsArb = fc.array(fc.record({ ops: fc.array(txOpArb, { minLength: 1, maxLength: 8 }), abort: fc.boolean() }).map((t) => ({ ...t, abort: t.abort && t.ops.length % 3 === 0 })), { minLength: 1, maxLength: 5 });

/** Fixed examples run first: the orderings a commit must get right. */
export const TX_EXAMPLES: [{ ops: TxOp[]; abort: boolean }[]][] = [
  // relate, then delete the object in the same transaction: the relation must not outlive the key
  [[{ ops: [{ kind: 'set', k: 0 }, { kind: 'set', k: 1 }], abort: false }, { ops: [{ kind: 'relate', s: 0, p: 0, o: 1 }, { kind: 'delete', k: 1 }, { kind: 'related', k: 0, p: null }], abort: false }]],
  // a live relation, its object deleted and set again, related again: live after the commit
  [[{ ops: [{ kind: 'set', k: 0 }, { kind: 'set', k: 1 }, { kind: 'relate', s: 0, p: 0, o: 1 }], abort: false }, { ops: [{ kind: 'delete', k: 1 }, { kind: 'set', k: 1 }, { kind: 'relatedTo', k: 1, p: null }, { kind: 'relate', s: 0, p: 0, o: 1 }], abort: false }]],
];

const kid = (i: number) => `${TX_KEYS[i]!.namespace}/${TX_KEYS[i]!.key}`;
const rid = (s: number, p: number, o: number) => `${kid(s)} ${TX_PREDICATES[p]} ${kid(o)}`;

/** The model: which keys are live, which relations are live (a key's delete takes its relations). */
export class TxModel {
  keys = new Set<number>();
  rels = new Set<string>();
  /** relation id -> [s, p, o] */
  readonly triples = new Map<string, [number, number, number]>();

  clone(): TxModel {
    const m = new TxModel();
    m.keys = new Set(this.keys);
    m.rels = new Set(this.rels);
    for (const [k, v] of this.triples) m.triples.set(k, v);
    return m;
  }

  /** What the op resolves to ('notFound' for StateNotFoundError), applied to the model. */
  apply(op: TxOp): unknown {
    switch (op.kind) {
      case 'set':
        this.keys.add(op.k);
        return undefined;
      case 'delete': {
        if (!this.keys.has(op.k)) return false;
        this.keys.delete(op.k);
        for (const id of [...this.rels]) {
          const [s, , o] = this.triples.get(id)!;
          if (s === op.k || o === op.k) this.rels.delete(id);
        }
        return true;
      }
      case 'relate': {
        if (!this.keys.has(op.s) || !this.keys.has(op.o)) return 'notFound';
        const id = rid(op.s, op.p, op.o);
        this.triples.set(id, [op.s, op.p, op.o]);
        if (this.rels.has(id)) return false;
        this.rels.add(id);
        return true;
      }
      case 'unrelate': {
        const id = rid(op.s, op.p, op.o);
        return this.rels.delete(id);
      }
      case 'related':
      case 'relatedTo':
        return this.lookup(op.k, op.p, op.kind);
    }
  }

  /** `related` / `relatedTo` as ids, sorted. */
  lookup(k: number, p: number | null, dir: 'related' | 'relatedTo'): string[] {
    if (!this.keys.has(k)) return [];
    return [...this.rels].filter((id) => {
      const [s, q, o] = this.triples.get(id)!;
      return (dir === 'related' ? s : o) === k && (p === null || q === p);
    }).sort();
  }
}

const idsOf = (rows: { subject: { namespace: string; key: string }; predicate: string; object: { namespace: string; key: string } }[]) =>
  rows.map((r) => `${r.subject.namespace}/${r.subject.key} ${r.predicate} ${r.object.namespace}/${r.object.key}`).sort();

async function run(tx: StoreTransaction, op: TxOp): Promise<unknown> {
  const ref = (i: number) => TX_KEYS[i]!;
  try {
    switch (op.kind) {
      case 'set':
        await tx.set(ref(op.k).key, { v: op.k }, { namespace: ref(op.k).namespace });
        return undefined;
      case 'delete':
        return await tx.delete(ref(op.k).key, { namespace: ref(op.k).namespace });
      case 'relate':
        return (await tx.relate(ref(op.s), TX_PREDICATES[op.p]!, ref(op.o))).written;
      case 'unrelate':
        return await tx.unrelate(ref(op.s), TX_PREDICATES[op.p]!, ref(op.o));
      case 'related':
        return idsOf(await tx.related(ref(op.k), op.p === null ? undefined : TX_PREDICATES[op.p]));
      case 'relatedTo':
        return idsOf(await tx.relatedTo(ref(op.k), op.p === null ? undefined : TX_PREDICATES[op.p]));
    }
  } catch (e) {
    if (e instanceof StateNotFoundError) return 'notFound';
    throw e;
  }
}

class Abort extends Error {}

/**
 * Run the transactions on `store` (empty namespaces `n` and `m`) and check: every op inside a
 * transaction answers as the model (read-your-writes), an aborted transaction appends nothing,
 * and after each commit the Store's related / relatedTo of every key and the relations view's
 * live rows equal the model (the commit's relation events folded after its key events).
 */
export async function checkTransactions(store: Store, txs: { ops: TxOp[]; abort: boolean }[]): Promise<void> {
  let model = new TxModel();
  for (const t of txs) {
    let attempt: TxModel;
    const p = store.transaction(async (tx) => {
      attempt = model.clone();
      for (const op of t.ops) expect(await run(tx, op), JSON.stringify(op)).toEqual(attempt.apply(op));
      if (t.abort) throw new Abort();
    });
    if (t.abort) {
      await expect(p).rejects.toBeInstanceOf(Abort);
    } else {
      await p;
      model = attempt!;
    }
    for (let k = 0; k < TX_KEYS.length; k++) {
      for (const q of [null, 0, 1]) {
        const pred = q === null ? undefined : TX_PREDICATES[q];
        expect(idsOf(await store.related(TX_KEYS[k]!, pred)), `related ${kid(k)} ${pred}`).toEqual(model.lookup(k, q, 'related'));
        expect(idsOf(await store.relatedTo(TX_KEYS[k]!, pred)), `relatedTo ${kid(k)} ${pred}`).toEqual(model.lookup(k, q, 'relatedTo'));
      }
    }
    // the view itself, not only the filtered reads: no relation to a deleted key was folded
    const mine = (await relationsReader(store.views).all()).filter((r) => ['n', 'm'].includes(r.subject.namespace));
    expect(idsOf(mine)).toEqual([...model.rels].sort());
  }
}

/** Wait (polling, no wall-clock assertion) until `cond` holds. */
export async function until(cond: () => boolean, what: string, tries = 2000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A subscription hears relate and unrelate with the documented shape, filtered by the subject's
 * or object's namespace; `relations: false` hears only key changes; a relation removed with a key
 * comes as the key's change.
 */
export async function checkSubscriptions(store: Store): Promise<void> {
  const all: StoreChange[] = [];
  const docs: StoreChange[] = [];
  const keysOnly: StoreChange[] = [];
  const offs = [
    store.subscribe({}, (c) => void all.push(c)),
    store.subscribe({ namespace: 'docs' }, (c) => void docs.push(c)),
    store.subscribe({ relations: false }, (c) => void keysOnly.push(c)),
  ];
  try {
    await Promise.all(offs.map((o) => o.ready));
    await store.set('ada', 1, { namespace: 'users' });
    await store.set('d1', 1, { namespace: 'docs' });
    await store.relate({ namespace: 'users', key: 'ada' }, 'owns', { namespace: 'docs', key: 'd1' }, { actor: 'ann' });
    await store.unrelate({ namespace: 'users', key: 'ada' }, 'owns', { namespace: 'docs', key: 'd1' }, { actor: 'bob' });
    await store.transaction(async (tx) => {
      await tx.relate({ namespace: 'users', key: 'ada' }, 'owns', { namespace: 'docs', key: 'd1' });
      await tx.set('ada', 2, { namespace: 'users' });
    });
    await store.delete('d1', { namespace: 'docs' });
    await until(() => all.length >= 7 && docs.length >= 5 && keysOnly.length >= 4, 'the changes');
    const rel = { subject: { namespace: 'users', key: 'ada' }, predicate: 'owns', object: { namespace: 'docs', key: 'd1' } };
    expect(all.map((c) => [c.type, c.namespace, c.key, c.version])).toEqual([
      ['kv.set', 'users', 'ada', 1],
      ['kv.set', 'docs', 'd1', 1],
      ['kv.relation.added', 'users', 'ada', 1],
      ['kv.relation.removed', 'users', 'ada', 2],
      ['kv.set', 'users', 'ada', 2], // the transaction: key events first, then its relation events
      ['kv.relation.added', 'users', 'ada', 3],
      ['kv.deleted', 'docs', 'd1', 2], // the relation goes with the key: no change of its own
    ]);
    expect(all[2]).toMatchObject({ operation: 'relate', actor: 'ann', relation: { ...rel, related: true } });
    expect(all[3]).toMatchObject({ operation: 'unrelate', actor: 'bob', relation: { ...rel, related: false } });
    expect(all[0]!.relation).toBeUndefined();
    // a namespace filter passes a relation whose object is in it
    expect(docs.map((c) => c.type)).toEqual(['kv.set', 'kv.relation.added', 'kv.relation.removed', 'kv.relation.added', 'kv.deleted']);
    expect(keysOnly.map((c) => c.type)).toEqual(['kv.set', 'kv.set', 'kv.set', 'kv.deleted']);
  } finally {
    await Promise.all(offs.map((o) => o()));
  }
}
