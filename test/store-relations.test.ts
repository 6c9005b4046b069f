/**
 * Relationships on memory and SQLite: the relations view (inline, async, rebuilt) equals the
 * reference model for random sequences with relates, unrelates, deletes, expiries, purges and
 * namespace drops, with both directions always agreeing; and the Store's relate / unrelate /
 * related / relatedTo / relationHistory: existence, cascades in the removing append, audit,
 * history, access control (a denial appends nothing) and bad input.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, InvalidKeyError, StateNotFoundError, ValidationError } from '../src/core/errors.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { MemoryViewStorage } from '../src/projections/storage/memory-view-storage.js';
import { SqliteViewStorage } from '../src/projections/storage/sqlite-view-storage.js';
import type { ViewStorage } from '../src/projections/view-storage.js';
import { keyedViews, viewReaders } from '../src/projections/views/index.js';
import { relationsReader, relationsView } from '../src/projections/views/relations/projection.js';
import { headPosition } from '../src/projections/runner/log-head.js';
import { Store } from '../src/store/store.js';
import type { AuthorizeRequest } from '../src/store/types.js';
import { appendRelOps, checkAuditByKey, checkDirections, dumpKeyed, dumpRelations, models, readAll, relOpsArb, type RelOp } from './store-relations-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-relations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const NAMES = ['kv', 'kv_versions', 'kv_audit', 'kv_relations'];
const views = () => [...keyedViews(), relationsView()];

interface Backend {
  name: string;
  log(): EventLog & MultiStreamAppender;
  /** storage for inline views (on the log's backend) and for async views */
  storages(log: EventLog): [ViewStorage, ViewStorage];
}

const backends: Backend[] = [
  { name: 'memory', log: () => new MemoryEventLog(), storages: () => [new MemoryViewStorage(), new MemoryViewStorage()] },
  {
    name: 'SQLite',
    log: () => new SqliteEventLog({ path: join(dir, `log${++files}.db`) }),
    storages: (log) => [new SqliteViewStorage({ path: (log as SqliteEventLog).path }), new SqliteViewStorage({ path: join(dir, `async${files}.db`) })],
  },
];

/** A fixed example: relate, then the object's purge and the subject's namespace drop in one batch; then re-created. */
const PURGE_IN_BATCH: RelOp[] = [
  { kind: 'relate', ns: 0, key: 0, ons: 1, okey: 1, p: 0, group: false, actor: 0 },
  { kind: 'relate', ns: 1, key: 2, ons: 1, okey: 1, p: 3, group: false, actor: 1 },
  { kind: 'unrelate', ns: 1, key: 2, ons: 1, okey: 1, p: 3, group: true, actor: 1 },
  { kind: 'purge', ns: 1, key: 1, ons: 0, okey: 0, p: 0, group: false, actor: 2 },
  { kind: 'relate', ns: 0, key: 0, ons: 1, okey: 1, p: 0, group: true, actor: 0 },
  { kind: 'nsDelete', ns: 0, key: 0, ons: 0, okey: 0, p: 0, group: false, actor: 0 },
  { kind: 'relate', ns: 1, key: 3, ons: 0, okey: 3, p: 1, group: false, actor: 0 },
];

describe.each(backends)('relations view on $name', (b) => {
  it('inline, async and rebuilt relations views (and the audit view with relation events) equal the reference model; both directions agree (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(relOpsArb, fc.integer({ min: 1, max: 7 }), async (ops, batchSize) => {
        const log = b.log();
        const [inlineStore, asyncStore] = b.storages(log);
        const inline = new ProjectionRunner({ log, storage: inlineStore, batchSize, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
        const async = new ProjectionRunner({ log, storage: asyncStore, batchSize, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
        try {
          await inline.start();
          await async.start();
          await appendRelOps(log, ops);
          const model = models(await readAll(log));
          for (const s of [inlineStore, asyncStore]) {
            if (s === asyncStore) await async.whenCaughtUp({ timeoutMs: 20_000 });
            expect(await dumpRelations(relationsReader(s))).toEqual(model.relations);
            expect(await dumpKeyed(viewReaders(s))).toEqual(model.views);
            await checkDirections(relationsReader(s), model.relations);
            await checkAuditByKey(viewReaders(s).audit, await readAll(log), model.views);
          }
          await Promise.all(NAMES.map((name) => inline.rebuild(name)));
          expect(await dumpRelations(relationsReader(inlineStore))).toEqual(model.relations);
          expect(await dumpKeyed(viewReaders(inlineStore))).toEqual(model.views);
        } finally {
          await async.close();
          await inline.close();
          await Promise.all([inlineStore.close(), asyncStore.close()]);
          await log.close();
        }
      }),
      { numRuns: 100, examples: [[PURGE_IN_BATCH, 7], [PURGE_IN_BATCH, 2]] },
    );
  }, 600_000);
});

/** A Store on a fresh log of the backend (views inline on it), a fake clock, and an access hook that can be switched. */
function storeOn(b: Backend, deny?: (r: AuthorizeRequest) => boolean) {
  const log = b.log();
  let now = 1_000_000;
  const clock = { now: () => now };
  const store = new Store({ log, clock, sweepIntervalMs: 0, authorize: deny ? (r) => !deny(r) : undefined });
  return {
    log,
    store,
    advance: (ms: number) => void (now += ms),
    head: () => headPosition(log),
    close: async () => {
      await store.close();
      await log.close();
    },
  };
}

const users = { namespace: 'users' };
const objects = (rows: { object: { namespace: string; key: string } }[]) => rows.map((r) => `${r.object.namespace}/${r.object.key}`);
const subjects = (rows: { subject: { namespace: string; key: string } }[]) => rows.map((r) => `${r.subject.namespace}/${r.subject.key}`);

describe.each(backends)('Store relationships on $name', (b) => {
  it('relate, related and relatedTo in both directions, across namespaces, in documented order; a repeated relate appends nothing', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      for (const k of ['ada', 'grace', 'alan']) await store.set(k, { name: k }, users);
      await store.set('d1', 'doc', { namespace: 'docs' });
      expect(await store.relate('ada', 'follows', 'grace', { ...users, actor: 'ada' })).toEqual({ version: 1, written: true });
      await store.relate('ada', 'follows', 'alan', users);
      await store.relate('alan', 'follows', 'grace', users);
      await store.relate({ namespace: 'users', key: 'ada' }, 'owns', { namespace: 'docs', key: 'd1' });
      const head = await t.head();
      expect(await store.relate('ada', 'follows', 'grace', users)).toEqual({ version: 1, written: false });
      expect(await t.head()).toBe(head);
      expect(objects(await store.related('ada', 'follows', users))).toEqual(['users/alan', 'users/grace']);
      expect((await store.related('ada', undefined, users)).map((r) => r.predicate)).toEqual(['follows', 'follows', 'owns']);
      expect(subjects(await store.relatedTo('grace', 'follows', users))).toEqual(['users/ada', 'users/alan']);
      expect(subjects(await store.relatedTo({ namespace: 'docs', key: 'd1' }))).toEqual(['users/ada']);
      const [r] = await store.related('ada', 'follows', users);
      expect(r).toMatchObject({ subject: { namespace: 'users', key: 'ada' }, predicate: 'follows', object: { namespace: 'users', key: 'alan' }, version: 1, actor: null });
      expect(await store.related('grace', 'follows', users)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('relate with an absent or expired key is StateNotFoundError and appends nothing; unrelate of an absent relation resolves false', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      await store.set('ada', 1, users);
      await store.set('tmp', 1, { ...users, ttlMs: 10 });
      const head = await t.head();
      await expect(store.relate('ada', 'knows', 'nobody', users)).rejects.toBeInstanceOf(StateNotFoundError);
      await expect(store.relate('nobody', 'knows', 'ada', users)).rejects.toBeInstanceOf(StateNotFoundError);
      t.advance(20);
      await expect(store.relate('ada', 'knows', 'tmp', users)).rejects.toBeInstanceOf(StateNotFoundError);
      expect(await store.unrelate('ada', 'knows', 'tmp', users)).toBe(false);
      expect(await t.head()).toBe(head);
    } finally {
      await t.close();
    }
  });

  it('delete of the object or subject removes its relations in that one append (both directions); unrelate appends kv.relation.removed', async () => {
    const t = storeOn(b);
    const { store, log } = t;
    try {
      for (const k of ['a', 'b', 'c']) await store.set(k, k, users);
      await store.relate('a', 'likes', 'b', users);
      await store.relate('b', 'likes', 'c', users);
      await store.relate('c', 'likes', 'a', users);
      const before = await t.head();
      expect(await store.delete('b', users)).toBe(true);
      const after = await t.head();
      expect(after).toBe(before + 1); // the delete only: no separate relation event
      expect((await readAll(log)).at(-1)!.type).toBe('kv.deleted');
      expect(objects(await store.related('a', 'likes', users))).toEqual([]);
      expect(subjects(await store.relatedTo('c', 'likes', users))).toEqual([]);
      expect(subjects(await store.relatedTo('a', 'likes', users))).toEqual(['users/c']);
      // b comes back: its old relations do not
      await store.set('b', 'again', users);
      expect(await store.related('b', undefined, users)).toEqual([]);
      expect(await store.unrelate('c', 'likes', 'a', { ...users, actor: 'carol' })).toBe(true);
      expect((await readAll(log)).at(-1)).toMatchObject({ type: 'kv.relation.removed', revision: 2, metadata: { operation: 'unrelate', actor: 'carol' } });
      expect(await store.relatedTo('a', undefined, users)).toEqual([]);
      const history = await store.relationHistory('a', 'likes', 'b', users);
      expect(history.map((h) => [h.version, h.operation, h.related])).toEqual([[1, 'delete', false], [1, 'relate', true]]);
      expect((await store.relationHistory('c', 'likes', 'a', { ...users, limit: 1 })).map((h) => [h.version, h.operation, h.actor])).toEqual([[2, 'unrelate', 'carol']]);
    } finally {
      await t.close();
    }
  });

  it('relate and unrelate are in the audit view with their operation and actor, as entries of the subject key naming predicate and object; audit of the object finds them too', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      await store.set('a', 1, users);
      await store.set('b', 2, users);
      await store.relate('a', 'p', 'b', { ...users, actor: 'ann' });
      await store.unrelate('a', 'p', 'b', { ...users, actor: 'bob' });
      const audit = await store.audit({ namespace: 'users', key: 'a' });
      expect(audit.map((e) => [e.operation, e.actor, e.type, e.version])).toEqual([
        ['set', null, 'kv.set', 1],
        ['relate', 'ann', 'kv.relation.added', 1],
        ['unrelate', 'bob', 'kv.relation.removed', 2],
      ]);
      expect(await store.audit({ namespace: 'users', operation: 'relate' })).toHaveLength(1);
      // the entries name the predicate and object, and the object's audit trail finds them too
      const rel = { predicate: 'p', object: { namespace: 'users', key: 'b' } };
      expect(audit.slice(1).map((e) => e.metadata)).toEqual([rel, rel]);
      expect((await store.audit({ namespace: 'users', key: 'b' })).map((e) => [e.operation, e.key, e.metadata])).toEqual([
        ['set', 'b', null],
        ['relate', 'a', rel],
        ['unrelate', 'a', rel],
      ]);
      // across namespaces: the object's namespace and key
      await store.set('d', 1, { namespace: 'docs' });
      await store.relate('a', 'owns', { namespace: 'docs', key: 'd' }, users);
      expect((await store.audit({ namespace: 'docs', key: 'd' })).map((e) => [e.operation, e.namespace, e.key])).toEqual([['set', 'docs', 'd'], ['relate', 'users', 'a']]);
      expect((await store.audit({ namespace: 'users', key: 'd' })).map((e) => e.operation)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('purge removes the relations and their history (subject and object) in its append; the relate audit entries of the purged subject go too', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      for (const k of ['a', 'b', 'c']) await store.set(k, k, users);
      await store.relate('a', 'p', 'b', users);
      await store.relate('b', 'p', 'c', users);
      await store.relate('c', 'p', 'a', users);
      await store.purge('b', users);
      expect(await store.related('a', 'p', users)).toEqual([]);
      expect(await store.relatedTo('c', 'p', users)).toEqual([]);
      expect(await store.relationHistory('a', 'p', 'b', users)).toEqual([]);
      expect(await store.relationHistory('b', 'p', 'c', users)).toEqual([]);
      expect((await store.relationHistory('c', 'p', 'a', users)).map((h) => h.operation)).toEqual(['relate']);
      // b's own entries are gone; a's relate naming b is a's history and stays (the key name is not data: the purge entry names it too)
      expect((await store.audit({ namespace: 'users', key: 'b' })).map((e) => [e.operation, e.key])).toEqual([['relate', 'a'], ['purge', 'b']]);
      // the views are the fold of the log: a rebuild gives the same
      await store.rebuildViews({ only: ['kv_relations', 'kv_audit'] });
      expect((await store.related('c', 'p', users)).map((r) => r.object.key)).toEqual(['a']);
      expect(await store.relationHistory('a', 'p', 'b', users)).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('deleteNamespace drops relations reaching into it from other namespaces; an expired key has no relations at once, and the sweep removes them', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      await store.set('u', 1, users);
      await store.set('d', 1, { namespace: 'docs' });
      await store.set('tmp', 1, { ...users, ttlMs: 50 });
      await store.relate('u', 'owns', { namespace: 'docs', key: 'd' }, users);
      await store.relate('u', 'sees', 'tmp', users);
      await store.relate('tmp', 'sees', 'u', users);
      await store.deleteNamespace('docs', { recursive: true });
      expect((await store.related('u', undefined, users)).map((r) => r.predicate)).toEqual(['sees']);
      t.advance(100);
      expect(await store.related('u', undefined, users)).toEqual([]); // tmp expired: hidden before the sweep
      expect(await store.relatedTo('u', undefined, users)).toEqual([]);
      expect(await store.sweep()).toBe(1);
      const rows = await relationsReader(store.views).all();
      expect(rows).toEqual([]); // the expiry event removed them from the view
      expect((await store.relationHistory('u', 'sees', 'tmp', users)).map((h) => h.operation)).toEqual(['expire', 'relate']);
    } finally {
      await t.close();
    }
  });

  it('authorize: relate needs write on the subject and read on the object (a denial appends nothing); reads need read and leave out keys the actor may not read', async () => {
    const deny = (r: AuthorizeRequest) => r.actor === 'eve' && (r.namespace === 'secret' || (r.action === 'write' && r.key === 'locked'));
    const t = storeOn(b, deny);
    const { store } = t;
    try {
      for (const k of ['a', 'locked']) await store.set(k, 1, users);
      await store.set('s', 1, { namespace: 'secret' });
      await store.relate('a', 'p', { namespace: 'secret', key: 's' }, users);
      await store.relate('a', 'p', 'locked', users);
      const head = await t.head();
      const eve = { ...users, actor: 'eve' };
      await expect(store.relate('locked', 'p', 'a', eve)).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.relate('a', 'q', { namespace: 'secret', key: 's' }, eve)).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.unrelate('a', 'p', { namespace: 'secret', key: 's' }, eve)).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.relatedTo({ namespace: 'secret', key: 's' }, 'p', eve)).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.relationHistory('a', 'p', { namespace: 'secret', key: 's' }, eve)).rejects.toBeInstanceOf(AccessDeniedError);
      expect(await t.head()).toBe(head);
      expect(objects(await store.related('a', 'p', eve))).toEqual(['users/locked']); // the secret key is left out
      expect(objects(await store.related('a', 'p', users))).toEqual(['secret/s', 'users/locked']);
      expect(await store.relate('a', 'r', 'locked', eve)).toEqual({ version: 1, written: true }); // write on the subject, read on the object
    } finally {
      await t.close();
    }
  });

  it('a delete of the object landing between relate\'s checks and its append makes the append fail its version check: relate rereads and throws StateNotFoundError, no relation to a deleted key', async () => {
    const t = storeOn(b);
    const { store, log } = t;
    try {
      await store.set('a', 1);
      await store.set('b', 1);
      // the interleaving, made deterministic: the other writer's delete lands when relate asks the relation stream's revision
      const revision = log.revision.bind(log);
      let injected = false;
      log.revision = async (stream: string) => {
        if (stream.startsWith('rel:') && !injected) {
          injected = true;
          await log.append('kv:default/b', [{ type: 'kv.deleted', data: { v: 1 }, metadata: { operation: 'delete', actor: 'other' } }]);
        }
        return revision(stream);
      };
      await expect(store.relate('a', 'p', 'b')).rejects.toBeInstanceOf(StateNotFoundError);
      expect(injected).toBe(true);
      expect((await readAll(log)).filter((e) => e.type === 'kv.relation.added')).toEqual([]);
      expect(await relationsReader(store.views).all()).toEqual([]);
    } finally {
      await t.close();
    }
  });

  it('bad input is a typed error before anything is appended: empty, NUL, lone-surrogate or oversized predicates (ValidationError), bad keys and namespaces (InvalidKeyError)', async () => {
    const t = storeOn(b);
    const { store } = t;
    try {
      await store.set('a', 1);
      await store.set('b', 1);
      const head = await t.head();
      for (const p of ['', 'a\0b', 'x\ud800', 'p'.repeat(257), 7 as unknown as string]) {
        await expect(store.relate('a', p, 'b')).rejects.toBeInstanceOf(ValidationError);
        await expect(store.related('a', p)).rejects.toBeInstanceOf(ValidationError);
      }
      for (const k of ['', 'a\0', '\udc00'] as string[]) await expect(store.relate('a', 'p', k)).rejects.toBeInstanceOf(InvalidKeyError);
      for (const ns of ['a/b', 'x:y', '*', '']) await expect(store.relate({ namespace: ns, key: 'a' }, 'p', 'b')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.relate(null as never, 'p', 'b')).rejects.toBeInstanceOf(ValidationError);
      await expect(store.relationHistory('a', 'p', 'b', { limit: 0 })).rejects.toBeInstanceOf(ValidationError);
      expect(await t.head()).toBe(head);
      // hostile but valid names are data, never SQL
      await store.set("x'); DROP TABLE t; --", 1);
      expect((await store.relate('a', "p' OR 1=1 --", "x'); DROP TABLE t; --")).written).toBe(true);
      expect(objects(await store.related('a', "p' OR 1=1 --"))).toEqual(["default/x'); DROP TABLE t; --"]);
      expect(await store.related('a', 'p')).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

type StoreOp =
  | { t: 'set' | 'delete' | 'purge'; k: number }
  | { t: 'nsDelete'; ns: number }
  | { t: 'relate' | 'unrelate'; s: number; p: number; o: number; twice: boolean };
const SKEYS = [['default', 'a'], ['default', 'b/c'], ['n2', '😀'], ['n2', 'a']] as const;
const SPREDS = ['p', 'q'] as const;
const storeOpArb: fc.Arbitrary<StoreOp> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constantFrom('set' as const, 'delete' as const, 'purge' as const), k: fc.nat({ max: SKEYS.length - 1 }) }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant('nsDelete' as const), ns: fc.nat({ max: 1 }) }), weight: 1 },
  { arbitrary: fc.record({ t: fc.constantFrom('relate' as const, 'unrelate' as const), s: fc.nat({ max: SKEYS.length - 1 }), p: fc.nat({ max: 1 }), o: fc.nat({ max: SKEYS.length - 1 }), twice: fc.boolean() }), weight: 4 },
);

describe.each(backends)('Store relationships against a model on $name', (b) => {
  it('random set / delete / purge / deleteNamespace / relate / unrelate: results, related and relatedTo of every key, and a rebuild, agree with the model (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(storeOpArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const t = storeOn(b);
        const { store } = t;
        const live = new Set<number>();
        const rels = new Set<string>(); // `s p o` by indexes
        const ref = (k: number) => ({ namespace: SKEYS[k]![0], key: SKEYS[k]![1] });
        const drop = (gone: (k: number) => boolean) => {
          for (const r of [...rels]) {
            const [s, , o] = r.split(' ').map(Number);
            if (gone(s!) || gone(o!)) rels.delete(r);
          }
        };
        try {
          for (const op of ops) {
            if (op.t === 'set') {
              await store.set(SKEYS[op.k]![1], op.k, { namespace: SKEYS[op.k]![0] });
              live.add(op.k);
            } else if (op.t === 'delete' || op.t === 'purge') {
              if (op.t === 'delete') expect(await store.delete(SKEYS[op.k]![1], { namespace: SKEYS[op.k]![0] })).toBe(live.has(op.k));
              else await store.purge(SKEYS[op.k]![1], { namespace: SKEYS[op.k]![0] });
              live.delete(op.k);
              drop((k) => k === op.k);
            } else if (op.t === 'nsDelete') {
              const ns = ['default', 'n2'][op.ns]!;
              await store.deleteNamespace(ns, { recursive: true });
              const inNs = (k: number) => SKEYS[k]![0] === ns;
              for (const k of [...live]) if (inNs(k)) live.delete(k);
              drop(inNs);
            } else {
              const r = op as Extract<StoreOp, { s: number }>;
              const id = `${r.s} ${r.p} ${r.o}`;
              for (let n = r.twice ? 2 : 1; n > 0; n--) {
                if (r.t === 'unrelate') {
                  expect(await store.unrelate(ref(r.s), SPREDS[r.p]!, ref(r.o))).toBe(rels.has(id));
                  rels.delete(id);
                } else if (!live.has(r.s) || !live.has(r.o)) {
                  await expect(store.relate(ref(r.s), SPREDS[r.p]!, ref(r.o))).rejects.toBeInstanceOf(StateNotFoundError);
                } else {
                  expect((await store.relate(ref(r.s), SPREDS[r.p]!, ref(r.o))).written).toBe(!rels.has(id));
                  rels.add(id);
                }
              }
            }
          }
          const expectAll = async () => {
            for (let k = 0; k < SKEYS.length; k++) {
              const fwd = [...rels].map((r) => r.split(' ').map(Number)).filter(([s]) => s === k);
              const inv = [...rels].map((r) => r.split(' ').map(Number)).filter(([, , o]) => o === k);
              const got = (await store.related(ref(k))).map((r) => `${r.predicate} ${r.object.namespace}/${r.object.key}`);
              expect(new Set(got)).toEqual(new Set(fwd.map(([, p, o]) => `${SPREDS[p!]} ${ref(o!).namespace}/${ref(o!).key}`)));
              const gotInv = (await store.relatedTo(ref(k))).map((r) => `${r.predicate} ${r.subject.namespace}/${r.subject.key}`);
              expect(new Set(gotInv)).toEqual(new Set(inv.map(([s, p]) => `${SPREDS[p!]} ${ref(s!).namespace}/${ref(s!).key}`)));
            }
            expect((await relationsReader(store.views).all()).length).toBe(rels.size);
          };
          await expectAll();
          await store.rebuildViews({ only: ['kv_relations'] });
          await expectAll();
        } finally {
          await t.close();
        }
      }),
      { numRuns: 100 },
    );
  }, 600_000);
});

describe('Store relationships across two Stores on one SQLite file', () => {
  it('concurrent relates of one triple append one event (the relation stream revision is the expectation); both see it', async () => {
    const path = join(dir, `shared${++files}.db`);
    const logs = [new SqliteEventLog({ path }), new SqliteEventLog({ path })];
    const stores = logs.map((log) => new Store({ log, sweepIntervalMs: 0 }));
    try {
      await stores[0]!.set('a', 1);
      await stores[0]!.set('b', 1);
      await Promise.all(stores.map((s) => s.ready()));
      const results = await Promise.all([...stores, ...stores].map((s) => s.relate('a', 'p', 'b')));
      expect(results.filter((r) => r.written)).toHaveLength(1);
      expect(results.every((r) => r.version === 1)).toBe(true);
      expect((await readAll(logs[0]!)).filter((e) => e.type === 'kv.relation.added')).toHaveLength(1);
      for (const s of stores) expect(objects(await s.related('a', 'p'))).toEqual(['default/b']);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await Promise.all(logs.map((l) => l.close()));
    }
  });
});
