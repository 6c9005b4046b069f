import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AccessDeniedError,
  ConcurrencyError,
  FileEventLog,
  InvalidKeyError,
  MemoryEventLog,
  SerializationError,
  SqliteEventLog,
  SqliteViewStorage,
  StateNotFoundError,
  StateTooLargeError,
  Store,
  ValidationError,
  type AuthorizeRequest,
  type EventLog,
  type StoreChange,
} from '../src/index.js';
import { dataAgentContract } from '../src/testing/index.js';

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dgent-store-'));
  dirs.push(d);
  return d;
}

type Kind = 'memory' | 'sqlite';
function open(kind: Kind, extra: Partial<ConstructorParameters<typeof Store>[0]> = {}): { store: Store; log: EventLog; clock: { t: number; now(): number } } {
  const log = kind === 'memory' ? new MemoryEventLog() : new SqliteEventLog({ path: join(tempDir(), 'store.db') });
  const clock = { t: 1_000_000, now() { return this.t; } };
  const store = new Store({ log, clock, sweepIntervalMs: 0, ...extra });
  closers.push(async () => {
    await store.close();
    await log.close();
  });
  return { store, log, clock };
}

async function allEvents(log: EventLog): Promise<number> {
  let n = 0;
  for await (const _ of log.readAll()) n++;
  return n;
}

for (const kind of ['memory', 'sqlite'] as const) {
  describe(`Store on ${kind}`, () => {
    it('set/get/has/delete round-trip values exactly and count versions', async () => {
      const { store } = open(kind);
      const value = { name: 'Ada', born: new Date(1815), tags: new Set(['math']), big: 2n ** 70n };
      expect(await store.set('u:1', value, { metadata: { role: 'admin' } })).toEqual({ version: 1, written: true });
      expect(await store.get('u:1')).toStrictEqual(value);
      expect(await store.has('u:1')).toBe(true);
      const e = await store.get('u:1', { includeMetadata: true });
      expect(e).toMatchObject({ key: 'u:1', version: 1, metadata: { role: 'admin' }, expiresAt: null });
      expect(await store.set('u:1', { name: 'Ada L.' })).toEqual({ version: 2, written: true });
      expect(await store.getMetadata('u:1')).toEqual({ role: 'admin' }); // kept when not given
      expect(await store.delete('u:1')).toBe(true);
      expect(await store.delete('u:1')).toBe(false);
      expect(await store.get('u:1')).toBeUndefined();
      expect(await store.has('u:1')).toBe(false);
      expect((await store.versions('u:1')).map((v) => [v.version, v.deleted])).toEqual([[3, true], [2, false], [1, false]]);
      expect(await store.get('u:1', { at: { version: 1 } })).toStrictEqual(value);
    });

    it('set with expectedVersion and ifAbsent: a stale version is ConcurrencyError; ifAbsent never overwrites', async () => {
      const { store } = open(kind);
      await store.set('k', 1, { expectedVersion: 0 });
      await expect(store.set('k', 2, { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
      await store.set('k', 2, { expectedVersion: 1 });
      const err = await store.set('k', 3, { expectedVersion: 1 }).catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ expected: 1, actual: 2 });
      expect(await store.set('k', 9, { ifAbsent: true })).toEqual({ version: 2, written: false });
      await store.delete('k');
      expect(await store.set('k', 9, { ifAbsent: true })).toEqual({ version: 4, written: true });
      expect(await store.get('k')).toBe(9);
    });

    it('getMany, setMany (one atomic append), deleteMany', async () => {
      const { store, log } = open(kind);
      await store.setMany([['a', 1], ['b', 2], { key: 'c', value: 3, metadata: { m: 1 } }]);
      expect(await store.getMany(['c', 'x', 'a'])).toEqual([3, undefined, 1]);
      // a bad value anywhere in the batch appends nothing
      const before = await allEvents(log);
      await expect(store.setMany([['d', 4], ['e', () => 1]])).rejects.toBeInstanceOf(SerializationError);
      expect(await allEvents(log)).toBe(before);
      expect(await store.deleteMany(['a', 'b', 'zz'])).toBe(2);
      expect(await store.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, 3]);
    });

    it('list pages by cursor in code point order, with prefix and pattern, stable under concurrent writes', async () => {
      const { store } = open(kind);
      const keys = ['a1', 'a2', 'a3', 'b1', 'ä', '😀', 'a/x'];
      for (const k of keys) await store.set(k, k);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list({ limit: 2, cursor });
        seen.push(...page.items.map((i) => i.key));
        cursor = page.cursor;
        if (seen.length === 2) {
          await store.set('a0', 'inserted before the cursor'); // not seen: before the cursor
          await store.set('zz', 'inserted after'); // seen
          await store.delete('b1'); // not seen
        }
      } while (cursor);
      expect(seen).toEqual(['a/x', 'a1', 'a2', 'a3', 'zz', 'ä', '😀']);
      expect((await store.list({ prefix: 'a' })).items.map((i) => i.key)).toEqual(['a/x', 'a0', 'a1', 'a2', 'a3']);
      expect((await store.list({ pattern: 'a?' })).items.map((i) => i.key)).toEqual(['a0', 'a1', 'a2', 'a3']);
      expect((await store.list({ pattern: '*x', limit: 1 })).items.map((i) => i.key)).toEqual(['a/x']);
      await expect(store.list({ cursor: 'not a cursor!' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('query and count with every operator on dotted paths, sort, limit and offset', async () => {
      const { store } = open(kind);
      await store.setMany([
        ['u1', { name: 'Ada', age: 36, tags: ['math'], addr: { city: 'London' } }],
        ['u2', { name: 'Alan', age: 41, tags: ['math', 'cs'], addr: { city: 'Wilmslow' } }],
        ['u3', { name: 'Grace', age: 85, tags: ['cs'], addr: { city: 'Arlington' } }],
      ]);
      const keys = async (f: Parameters<Store['query']>[0], o = {}) => (await store.query(f, o)).map((r) => r.key);
      expect(await keys({ path: 'age', op: 'gte', value: 40 })).toEqual(['u2', 'u3']);
      expect(await keys([{ path: 'tags', op: 'contains', value: 'math' }, { path: 'addr.city', op: 'ne', value: 'London' }])).toEqual(['u2']);
      expect(await keys({ path: 'name', op: 'startsWith', value: 'A' }, { sort: [{ path: 'age', direction: 'desc' }] })).toEqual(['u2', 'u1']);
      expect(await keys({ path: 'name', op: 'endsWith', value: 'e' })).toEqual(['u3']);
      expect(await keys({ path: 'age', op: 'in', value: [36, 85] }, { limit: 1, offset: 1 })).toEqual(['u3']);
      expect(await keys({ path: 'age', op: 'lt', value: 41 })).toEqual(['u1']);
      expect(await store.count({ path: 'age', op: 'gt', value: 36 })).toBe(2);
      expect(await store.count()).toBe(3);
    });

    it('namespaces: explicit and implicit, isolated, deleteNamespace needs recursive when keys remain', async () => {
      const { store, log } = open(kind);
      expect(await store.createNamespace('t1')).toBe(true);
      expect(await store.createNamespace('t1')).toBe(false);
      await store.set('k', 1, { namespace: 't2' });
      expect(await store.listNamespaces()).toEqual(['t1', 't2']);
      expect(await store.get('k')).toBeUndefined();
      const before = await allEvents(log);
      await expect(store.deleteNamespace('t2')).rejects.toBeInstanceOf(ValidationError);
      expect(await allEvents(log)).toBe(before);
      expect(await store.deleteNamespace('t2', { recursive: true })).toBe(true);
      expect(await store.listNamespaces()).toEqual(['t1']);
      expect(await store.get('k', { namespace: 't2' })).toBeUndefined();
      expect((await store.versions('k', { namespace: 't2' }))[0]).toMatchObject({ deleted: true, operation: 'deleteNamespace' });
      await store.setMany([['a', 1], ['b', 2]], { namespace: 't1' });
      expect(await store.clear({ namespace: 't1' })).toBe(2);
      expect(await store.count(undefined, { namespace: 't1' })).toBe(0);
      expect(await store.listNamespaces()).toEqual(['t1']);
    });

    it('setMetadata replaces or merges; on an absent key it is StateNotFoundError', async () => {
      const { store } = open(kind);
      await store.set('k', 1, { metadata: { a: 1 } });
      await store.setMetadata('k', { b: 2 }, { merge: true });
      expect(await store.getMetadata('k')).toEqual({ a: 1, b: 2 });
      await store.setMetadata('k', { c: 3 });
      expect(await store.getMetadata('k')).toEqual({ c: 3 });
      await expect(store.setMetadata('nope', { c: 3 })).rejects.toBeInstanceOf(StateNotFoundError);
      expect(await store.getMetadata('nope')).toBeUndefined();
    });

    it('update stores only the immer patches; incr counts atomically, also on a field', async () => {
      const { store, log } = open(kind);
      await store.set('doc', { title: 'a', body: 'x'.repeat(1000), n: 0 });
      expect(await store.update<{ title: string }>('doc', (d) => void (d!.title = 'b'))).toMatchObject({ title: 'b' });
      let last: unknown;
      for await (const e of log.readAll()) last = e.data;
      expect(JSON.stringify(last).length).toBeLessThan(200); // the patch, not the 1000-char body
      await Promise.all(Array.from({ length: 30 }, () => store.incr('hits')));
      expect(await store.get('hits')).toBe(30);
      await Promise.all(Array.from({ length: 10 }, () => store.incr('doc', 2, { field: 'stats.views' })));
      expect(await store.get('doc')).toMatchObject({ title: 'b', stats: { views: 20 } });
      await expect(store.incr('doc', 1, { field: 'title' })).rejects.toBeInstanceOf(ValidationError);
      await Promise.all(Array.from({ length: 20 }, () => store.update<number>('hits', (n) => (n as number) + 1)));
      expect(await store.get('hits')).toBe(50);
    });

    it('update returns the value as stored: a key deleted and set again keeps its place, as in the fold of the patches', async () => {
      const { store } = open(kind);
      await store.set('doc', { a: 1, b: { c: 2 }, n: 0 });
      const returned = await store.update<{ a?: number; b: { c: number }; n: number }>('doc', (d) => {
        delete d!.a;
        d!.a = 3; // immer records a replace of `a`: the stored value keeps `a` first
        d!.b.c++;
      });
      expect(JSON.stringify(returned)).toBe('{"a":3,"b":{"c":3},"n":0}');
      expect(JSON.stringify(await store.get('doc'))).toBe(JSON.stringify(returned));
    });

    it('transaction: reads see own writes, commits atomically with one tx id, conflicts retry then ConcurrencyError', async () => {
      const { store, log } = open(kind, { maxRetries: 3 });
      await store.setMany([['from', 100], ['to', 0]]);
      const out = await store.transaction(async (tx) => {
        const a = (await tx.get<number>('from'))!;
        await tx.set('from', a - 30);
        expect(await tx.get('from')).toBe(70);
        await tx.incr('to', 30);
        return 'ok';
      });
      expect(out).toBe('ok');
      expect(await store.getMany(['from', 'to'])).toEqual([70, 30]);
      const audit = await store.audit({ operation: 'set' });
      const txs = new Set((await store.audit()).filter((a) => a.tx !== null).map((a) => a.tx));
      expect(txs.size).toBe(1);
      expect(audit.length).toBeGreaterThan(0);
      // a concurrent write to a key read makes the transaction run again
      let runs = 0;
      await store.transaction(async (tx) => {
        runs++;
        const v = await tx.get<number>('to');
        if (runs === 1) await store.set('to', 1000);
        await tx.set('to', v! + 1);
      });
      expect(runs).toBe(2);
      expect(await store.get('to')).toBe(1001);
      // a key only read counts too (no write skew): the tx read 'from' and wrote 'to'
      runs = 0;
      await store.transaction(async (tx) => {
        runs++;
        const f = (await tx.get<number>('from'))!;
        if (runs === 1) await store.set('from', 71);
        await tx.set('to', f);
      });
      expect(runs).toBe(2);
      expect(await store.get('to')).toBe(71);
      await store.set('from', 70);
      // always conflicting: ConcurrencyError after maxRetries attempts, and its writes never land
      const before = await allEvents(log);
      let attempts = 0;
      const err = await store
        .transaction(async (tx) => {
          attempts++;
          await tx.get('to');
          await store.set('to', attempts);
          await tx.set('from', -1);
        })
        .catch((e) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(attempts).toBe(3);
      expect(await allEvents(log)).toBe(before + 3);
      expect(await store.get('from')).toBe(70);
      // a throw inside the function appends nothing
      await expect(store.transaction(async (tx) => { await tx.set('from', 0); throw new Error('no'); })).rejects.toThrow('no');
      expect(await store.get('from')).toBe(70);
    });

    it('TTL: an expired key is invisible at once on every read path; the sweeper appends expiry events and empties the view', async () => {
      const { store, clock } = open(kind);
      await store.set('t', { x: 1 }, { ttlMs: 1000 });
      await store.set('keep', { x: 1 });
      clock.t += 999;
      expect(await store.get('t')).toEqual({ x: 1 });
      clock.t += 1;
      expect(await store.get('t')).toBeUndefined();
      expect(await store.has('t')).toBe(false);
      expect(await store.getMany(['t'])).toEqual([undefined]);
      expect((await store.list()).items.map((i) => i.key)).toEqual(['keep']);
      expect((await store.query({ path: 'x', op: 'eq', value: 1 })).map((r) => r.key)).toEqual(['keep']);
      expect(await store.count()).toBe(1);
      expect(await store.getMetadata('t')).toBeUndefined();
      expect(await store.sweep()).toBe(1);
      expect(await store.sweep()).toBe(0);
      expect((await store.audit({ key: 't' })).map((a) => [a.operation, a.actor])).toEqual([['set', null], ['expire', 'dgent:sweeper']]);
      // bounded storage: many expired keys leave no KV rows after one sweep
      for (let i = 0; i < 600; i++) await store.set(`e${i}`, i, { ttlMs: 10 });
      clock.t += 10;
      expect(await store.sweep()).toBe(600);
      expect((await store.status()).sizes).toEqual({ default: 1 });
      // an absolute expiry on the Store's clock; ttlMs and expiresAt together are a ValidationError
      await store.set('abs', 1, { expiresAt: store.now() + 50 });
      await store.setMany([{ key: 'abs2', value: 2, expiresAt: new Date(store.now() + 50) }]);
      expect(await store.getMany(['abs', 'abs2'])).toEqual([1, 2]);
      clock.t += 50;
      expect(await store.getMany(['abs', 'abs2'])).toEqual([undefined, undefined]);
      await expect(store.set('abs', 1, { expiresAt: 1, ttlMs: 1 })).rejects.toBeInstanceOf(ValidationError);
      await expect(store.set('abs', 1, { expiresAt: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
      await store.sweep();
      // an incr of an expired counter starts again
      await store.set('c', 5, { ttlMs: 5 });
      clock.t += 5;
      expect(await store.incr('c', 2)).toBe(2);
    });

    it('bad input gets a typed error and appends nothing', async () => {
      const { store, log } = open(kind);
      await store.set('ok', 1);
      const before = await allEvents(log);
      const bad: [Promise<unknown>, unknown][] = [
        [store.set('', 1), InvalidKeyError],
        [store.set('x'.repeat(600), 1), InvalidKeyError],
        [store.set('a\0b', 1), InvalidKeyError],
        [store.set('k', 1, { namespace: 'a/b' }), InvalidKeyError],
        [store.set('k', 1, { namespace: 'a:b' }), InvalidKeyError],
        [store.set('k', 1, { namespace: 'a*' }), InvalidKeyError],
        [store.set('k', () => 1), SerializationError],
        [store.set('k', { a: Symbol('s') }), SerializationError],
        [store.set('k', 1, { ttlMs: -1 }), ValidationError],
        [store.set('k', 1, { expectedVersion: 1.5 }), ValidationError],
        [store.query({ path: 'a', op: 'like' as never, value: 1 }), ValidationError],
        [store.query({ path: 'a..b', op: 'eq', value: 1 }), ValidationError],
        [store.query({ path: "a'); DROP TABLE x; --", op: 'eq', value: 1 }), ValidationError],
        [store.count({ path: 'a', op: 'gt', value: null }), ValidationError],
        [store.incr('k', Number.NaN), ValidationError],
        [store.setMetadata('ok', 'x' as never), ValidationError],
        [store.list({ limit: 0 }), ValidationError],
        [store.createNamespace(''), InvalidKeyError],
      ];
      for (const [p, type] of bad) await expect(p).rejects.toBeInstanceOf(type);
      expect(await allEvents(log)).toBe(before);
    });

    it('access control: denied operations throw AccessDeniedError and append nothing; the actor is audited; decisions cached until policyChanged()', async () => {
      const calls: AuthorizeRequest[] = [];
      let policy = (r: AuthorizeRequest) => r.namespace === r.actor || (r.actor === 'root' && r.action !== 'write');
      const { store, log, clock } = open(kind, {
        authorize: async (r) => {
          calls.push(r);
          return policy(r);
        },
        authorizeCacheMs: 1000,
      });
      // per-tenant namespaces: each tenant reads and writes its own namespace only
      await store.set('doc', 'alice doc', { namespace: 'alice', actor: 'alice' });
      await store.set('doc', 'bob doc', { namespace: 'bob', actor: 'bob' });
      const before = await allEvents(log);
      await expect(store.set('doc', 'x', { namespace: 'bob', actor: 'alice' })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.get('doc', { namespace: 'bob', actor: 'alice' })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.deleteNamespace('bob', { actor: 'alice', recursive: true })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.transaction(async (tx) => tx.set('doc', 'x', { namespace: 'bob' }), { actor: 'alice' })).rejects.toBeInstanceOf(AccessDeniedError);
      expect(await allEvents(log)).toBe(before);
      expect(await store.get('doc', { namespace: 'alice', actor: 'alice' })).toBe('alice doc');
      expect(await store.listNamespaces({ actor: 'alice' })).toEqual(['alice']);
      expect(await store.listNamespaces({ actor: 'root' })).toEqual(['alice', 'bob']);
      expect((await store.audit({ namespace: 'bob', principal: 'root' })).map((a) => a.actor)).toEqual(['bob']);
      // cached: the hook is not asked again within authorizeCacheMs ...
      const n = calls.length;
      await store.get('doc', { namespace: 'alice', actor: 'alice' });
      expect(calls.length).toBe(n);
      // ... until the policy changes
      policy = () => false;
      await store.get('doc', { namespace: 'alice', actor: 'alice' }); // still cached
      store.policyChanged();
      await expect(store.get('doc', { namespace: 'alice', actor: 'alice' })).rejects.toBeInstanceOf(AccessDeniedError);
      policy = () => true;
      clock.t += 1000; // the cached denial expires
      expect(await store.get('doc', { namespace: 'alice', actor: 'alice' })).toBe('alice doc');
    });

    it('subscribe hears changes of a namespace and prefix, in order', async () => {
      const { store } = open(kind);
      const seen: StoreChange[] = [];
      const off = store.subscribe({ namespace: 'n', prefix: 'a' }, (c) => void seen.push(c));
      await off.ready;
      await store.set('a1', 1, { namespace: 'n' });
      await store.set('b1', 1, { namespace: 'n' });
      await store.set('a2', 2);
      await store.delete('a1', { namespace: 'n' });
      await store.incr('a3', 1, { namespace: 'n' });
      await vi_until(() => seen.length >= 3);
      expect(seen.map((c) => [c.key, c.type, c.version])).toEqual([['a1', 'kv.set', 1], ['a1', 'kv.deleted', 2], ['a3', 'kv.incremented', 1]]);
      expect(seen[0]!.value).toBe(1);
      await off();
    });

    it('purge removes the values from the log and every view, leaving an audit entry without data', async () => {
      const { store, log } = open(kind);
      await store.set('pii', { email: 'a@b.c' }, { actor: 'u' });
      await store.set('pii', { email: 'x@y.z' }, { actor: 'u' });
      await store.set('other', 1);
      await store.purge('pii', { actor: 'dpo' });
      expect(await store.get('pii')).toBeUndefined();
      expect(await store.versions('pii')).toEqual([]);
      expect((await store.audit({ key: 'pii' })).map((a) => [a.operation, a.actor, a.metadata])).toEqual([['purge', 'dpo', null]]);
      const texts: string[] = [];
      for await (const e of log.readAll()) texts.push(JSON.stringify(e.data));
      expect(texts.join('\n')).not.toContain('a@b.c');
      expect(texts.join('\n')).not.toContain('x@y.z');
      await store.rebuildViews();
      expect(await store.get('pii')).toBeUndefined();
      expect((await store.audit({ key: 'pii' })).map((a) => a.operation)).toEqual(['purge']);
      expect(await store.get('other')).toBe(1);
      await store.set('pii', 'again');
      expect(await store.get('pii')).toBe('again');
    });

    dataAgentContract(
      `Store.agent on ${kind}`,
      () => {
        const log = kind === 'memory' ? new MemoryEventLog() : new SqliteEventLog({ path: join(tempDir(), 'agent.db') });
        const store = new Store({ log, sweepIntervalMs: 0 });
        let n = 0;
        const key = `agent-${Math.random()}`;
        return {
          open: () => store.agent<any>(key, { namespace: `ns${n++ >= 0 ? '' : ''}a` }),
          cleanup: async () => {
            await store.close();
            await log.close();
          },
        };
      },
      { reopen: true, runs: 30, requires: ['update', 'versioned', 'subscribe', 'close'] },
    );
  });
}

describe('Store construction', () => {
  it('a file log needs named views (ValidationError), and purge there is a ValidationError naming why', async () => {
    const log = new FileEventLog({ dir: tempDir() });
    closers.push(() => log.close());
    const store = new Store({ log });
    await expect(store.ready()).rejects.toBeInstanceOf(ValidationError);
    await expect(store.get('k')).rejects.toBeInstanceOf(ValidationError);
    await store.close();
    // with named views it runs them async, reads see the Store's own writes, and purge is refused before appending
    const views = new SqliteViewStorage({ path: join(tempDir(), 'views.db') });
    const named = new Store({ log, views, sweepIntervalMs: 0 });
    await named.set('k', { v: 1 });
    expect(await named.get('k')).toEqual({ v: 1 });
    expect((await named.status()).mode).toBe('async');
    const before = await allEvents(log);
    await expect(named.purge('k')).rejects.toThrow(/purge needs a log that can delete/);
    expect(await allEvents(log)).toBe(before);
    await named.close();
    await views.close();
  });

  it('bad options are ValidationError', () => {
    expect(() => new Store(undefined as never)).toThrow(ValidationError);
    expect(() => new Store({ log: {} as never })).toThrow(ValidationError);
    expect(() => new Store({ log: new MemoryEventLog(), authorize: 1 as never })).toThrow(ValidationError);
    expect(() => new Store({ log: new MemoryEventLog(), clock: {} as never })).toThrow(ValidationError);
    expect(() => new Store({ log: new MemoryEventLog(), maxValueBytes: 'big' as never })).toThrow(/maxValueBytes must be an integer >= 1, got "big"/);
    expect(() => new Store({ log: new MemoryEventLog(), maxValueBytes: 0 })).toThrow(ValidationError);
    expect(() => new Store({ log: new MemoryEventLog(), sweepIntervalMs: -5 })).toThrow(/sweepIntervalMs must be a number >= 0/);
  });
});

describe('Store value limits', () => {
  it('maxValueBytes: a set, setMany, transaction set or update whose value encodes to more is a StateTooLargeError, and nothing is appended', async () => {
    const log = new MemoryEventLog();
    const store = new Store({ log, maxValueBytes: 1000, sweepIntervalMs: 0 });
    try {
      await store.set('k', 'x'.repeat(900));
      await store.set('doc', { items: ['a'] });
      const head = (await collect(log.readAll())).length;
      const tooLarge = async (p: Promise<unknown>, size: number) => {
        const e = await p.then(() => undefined, (err: unknown) => err);
        expect(e).toBeInstanceOf(StateTooLargeError);
        expect(e).toMatchObject({ code: 'STATE_TOO_LARGE', size, limit: 1000 });
      };
      await tooLarge(store.set('k', 'x'.repeat(2000)), 2002);
      await tooLarge(store.set('k', 'é'.repeat(600)), 1202); // bytes of UTF-8, not characters
      await tooLarge(store.setMany([['a', 1], ['b', 'y'.repeat(1500)]]), 1502);
      await tooLarge(store.transaction(async (tx) => void (await tx.set('t', 'z'.repeat(1200)))), 1202);
      await tooLarge(store.update<{ items: string[] }>('doc', (d) => void d!.items.push('w'.repeat(1100))), 1118);
      expect((await collect(log.readAll())).length).toBe(head);
      expect(await store.get('k')).toBe('x'.repeat(900));
      expect(await store.get('doc')).toEqual({ items: ['a'] });
      // the default is 16 MiB
      const big = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
      await tooLarge2(big.set('k', 'x'.repeat(17 * 1024 * 1024)));
      await big.close();
    } finally {
      await store.close();
    }
    async function tooLarge2(p: Promise<unknown>) {
      await expect(p).rejects.toMatchObject({ code: 'STATE_TOO_LARGE', limit: 16 * 1024 * 1024 });
    }
  });

  it('a value nested deeper than 1000 levels is a SerializationError (not a RangeError), and nothing is appended', async () => {
    const log = new MemoryEventLog();
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      let deep: Record<string, unknown> = {};
      const root = deep;
      for (let i = 0; i < 10_000; i++) deep = (deep.c = {}) as Record<string, unknown>;
      await expect(store.set('deep', root)).rejects.toBeInstanceOf(SerializationError);
      await store.set('u', { a: 1 });
      await expect(store.update('u', () => root)).rejects.toBeInstanceOf(SerializationError);
      expect((await collect(log.readAll())).map((e) => e.type)).toEqual(['kv.set']);
    } finally {
      await store.close();
    }
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function vi_until(cond: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
