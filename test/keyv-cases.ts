/**
 * KeyvDgent beyond Keyv's own suites, registered per backend by keyv.test.ts (memory, SQLite) and
 * keyv.int.test.ts (PostgreSQL): values round-trip through Keyv's serialisation (property), TTL expiry is visible at once on every read path, a key written through
 * Keyv has versions, an audit trail and time travel, batches and namespaces behave as Keyv 6
 * documents, and bad input gets a typed error with nothing appended.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import Keyv, { type KeyvStorageAdapter } from 'keyv';
import { InvalidKeyError, SerializationError, ValidationError, type EventLog } from '../src/index.js';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, type KeyvBackend, type OpenedStore } from './keyv-support.js';

const opened: OpenedStore[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

function fakeClock(t = 1_000_000): { t: number; now(): number } {
  return { t, now() { return this.t; } };
}

export function open(backend: KeyvBackend, clock?: { now(): number }): OpenedStore {
  const o = openStore(backend, clock ? { clock } : {});
  opened.push(o);
  return o;
}

async function eventCount(log: EventLog): Promise<number> {
  let n = 0;
  for await (const _ of log.readAll()) n++;
  return n;
}

/** Registers the adapter cases on one backend (called by keyv.test.ts and keyv.int.test.ts). */
export function keyvAdapterCases(backend: KeyvBackend): void {
  describe(`KeyvDgent on ${backend}`, () => {
    it('Keyv 6 uses the adapter directly (capabilities.expires), not through its legacy ttl bridge', () => {
      const adapter: KeyvStorageAdapter = new KeyvDgent({ store: open(backend).store }); // also a KeyvStorageAdapter for tsc
      const keyv = new Keyv({ store: adapter });
      expect(keyv.store).toBe(adapter);
      expect(adapter.capabilities?.expires).toBe(true);
      expect(Object.values(adapter.capabilities!.methods).every((m) => m.exists)).toBe(true);
    });

    it('values round-trip through Keyv serialisation, and the Store holds what Keyv encoded (property)', async () => {
      const { store } = open(backend);
      const keyv = new Keyv({ store: new KeyvDgent({ store }), namespace: 'prop' });
      await fc.assert(
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }).filter((k) => !k.includes('\0') && k.isWellFormed()), fc.jsonValue(), async (key, value) => {
          const expected = JSON.parse(JSON.stringify(value)); // JSON has no -0
          expect(await keyv.set(key, value)).toBe(true);
          expect(await keyv.get(key)).toStrictEqual(expected);
          const raw = await store.get<string>(key, { namespace: 'prop' });
          expect(typeof raw).toBe('string');
          expect((await keyv.serialization!.parse<{ value: unknown }>(raw!)).value).toStrictEqual(expected);
        }),
        { numRuns: backend === 'memory' ? 100 : 50 },
      );
    });

    it('with serialization: false the Store keeps structured values (Date, Map, BigInt) and can query them', async () => {
      const { store } = open(backend);
      const keyv = new Keyv({ store: new KeyvDgent({ store }), serialization: false, namespace: 'raw' });
      const value = { at: new Date(1_700_000_000_000), tags: new Map([['a', 1]]), big: 2n ** 70n, age: 41 };
      await keyv.set('u1', value);
      await keyv.set('u2', { age: 12 });
      expect(await keyv.get('u1')).toStrictEqual(value);
      const found = await store.query({ path: 'value.age', op: 'gte', value: 18 }, { namespace: 'raw' });
      expect(found.map((r) => r.key)).toEqual(['u1']);
    });

    it('an expired key is invisible at once to get, getMany, has, hasMany and the iterator, and the sweep audits it', async () => {
      const clock = fakeClock();
      const { store } = open(backend, clock);
      const adapter = new KeyvDgent({ store });
      expect(await adapter.set('short', 's', clock.t + 100)).toBe(true);
      expect(await adapter.setMany([{ key: 'batch', value: 'b', expires: clock.t + 100 }, { key: 'long', value: 'l', expires: clock.t + 10_000 }])).toEqual([true, true]);
      expect(await adapter.get('short')).toBe('s');
      clock.t += 99;
      expect(await adapter.hasMany(['short', 'batch', 'long'])).toEqual([true, true, true]);
      clock.t += 1;
      expect(await adapter.get('short')).toBeUndefined();
      expect(await adapter.getMany(['short', 'batch', 'long'])).toEqual([undefined, undefined, 'l']);
      expect(await adapter.has('batch')).toBe(false);
      expect(await adapter.hasMany(['short', 'batch', 'long'])).toEqual([false, false, true]);
      const seen: string[] = [];
      for await (const [k] of adapter.iterator()) seen.push(k);
      expect(seen).toEqual(['long']);
      expect((await store.versions('long'))[0]!.expiresAt).toBe(1_000_000 + 10_000); // Keyv's expires, as given
      expect(await store.sweep()).toBe(2);
      const trail = await adapter.audit({ key: 'short' });
      expect(trail.map((e) => e.operation)).toEqual(['set', 'expire']);
    });

    it('Keyv with its own expiry check off still never reads an expired value (the adapter enforces expires)', async () => {
      // only Date is faked: Keyv computes expires from Date.now(), the Store's default clock reads it too
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        const adapter = new KeyvDgent({ store: open(backend).store });
        const keyv = new Keyv({ store: adapter, checkExpired: false });
        await keyv.set('k', 'v', 1000);
        await keyv.set('kept', 'v');
        vi.setSystemTime(Date.now() + 999);
        expect(await keyv.get('k')).toBe('v');
        vi.setSystemTime(Date.now() + 1);
        expect(await keyv.get('k')).toBeUndefined();
        expect(await keyv.has('k')).toBe(false);
        expect(await keyv.get(['k', 'kept'])).toEqual([undefined, 'v']);
      } finally {
        vi.useRealTimers();
      }
    });

    it('an expires already past deletes the key instead of writing it (set and setMany)', async () => {
      const clock = fakeClock();
      const { store } = open(backend, clock);
      const adapter = new KeyvDgent({ store });
      await adapter.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 2 }]);
      expect(await adapter.set('a', 9, clock.t)).toBe(true);
      expect(await adapter.setMany([{ key: 'b', value: 9, expires: clock.t - 1 }, { key: 'c', value: 3 }])).toEqual([true, true]);
      expect(await adapter.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, 3]);
      expect((await adapter.versions('a')).map((v) => [v.operation, v.deleted])).toEqual([['delete', true], ['set', false]]);
    });

    it('a key written through Keyv has versions (newest first), an audit trail with the actor, and time travel', async () => {
      const { store } = open(backend);
      const adapter = new KeyvDgent({ store, actor: 'svc' });
      const keyv = new Keyv({ store: adapter, namespace: 'sessions' });
      await keyv.set('s1', { step: 1 });
      await keyv.set('s1', { step: 2 });
      await keyv.set('s1', { step: 3 });
      await keyv.delete('s1');
      const parse = (raw: unknown) => (raw === undefined ? undefined : JSON.parse(raw as string).value);
      const versions = await adapter.versions('s1');
      expect(versions.map((v) => [v.version, v.deleted, parse(v.value), v.actor])).toEqual([
        [4, true, undefined, 'svc'],
        [3, false, { step: 3 }, 'svc'],
        [2, false, { step: 2 }, 'svc'],
        [1, false, { step: 1 }, 'svc'],
      ]);
      expect((await adapter.audit({ key: 's1' })).map((e) => [e.namespace, e.operation, e.actor])).toEqual([
        ['sessions', 'set', 'svc'], ['sessions', 'set', 'svc'], ['sessions', 'set', 'svc'], ['sessions', 'delete', 'svc'],
      ]);
      expect(parse(await adapter.getAt('s1', { version: 2 }))).toEqual({ step: 2 });
      expect(await adapter.getAt('s1', { version: 4 })).toBeUndefined();
      expect(await store.versions('s1', { namespace: 'sessions' })).toHaveLength(4);
    });

    it('Keyv namespaces are Store namespaces; without one the default namespace is used; clear keeps the others', async () => {
      const { store } = open(backend);
      const a = new Keyv({ store: new KeyvDgent({ store }), namespace: 'a' });
      const b = new Keyv({ store: new KeyvDgent({ store }), namespace: 'b' });
      const plain = new Keyv({ store: new KeyvDgent({ store }) });
      await a.set('k', 'in a');
      await b.set('k', 'in b');
      await plain.set('k', 'in default');
      expect(await store.has('k', { namespace: 'a' })).toBe(true);
      expect(JSON.parse((await store.get<string>('k'))!).value).toBe('in default');
      await a.clear();
      expect([await a.get('k'), await b.get('k'), await plain.get('k')]).toEqual([undefined, 'in b', 'in default']);
    });

    it('deleteMany resolves to one boolean per key (false for absent and repeated keys) in one append', async () => {
      const { store, log } = open(backend);
      const adapter = new KeyvDgent({ store });
      await adapter.setMany([{ key: 'x', value: 1 }, { key: 'y', value: 2 }]);
      const before = await eventCount(log);
      expect(await adapter.deleteMany(['x', 'nope', 'y', 'x'])).toEqual([true, false, true, false]);
      expect(await eventCount(log)).toBe(before + 2);
      expect((await adapter.audit()).filter((e) => e.operation === 'delete').map((e) => e.tx !== null)).toEqual([true, true]);
      expect(await adapter.deleteMany([])).toEqual([]);
    });

    it('the iterator pages through every live key of its namespace, in key order', async () => {
      const { store } = open(backend);
      const adapter = new KeyvDgent({ store, pageSize: 3 });
      adapter.namespace = 'it';
      const keys = Array.from({ length: 10 }, (_, i) => `k${String(i).padStart(2, '0')}`);
      await adapter.setMany(keys.map((key, i) => ({ key, value: i })));
      await new KeyvDgent({ store }).set('k00', 'other namespace');
      const seen: [string, unknown][] = [];
      for await (const entry of adapter.iterator()) seen.push(entry);
      expect(seen).toEqual(keys.map((k, i) => [k, i]));
    });

    it('bad input gets a typed error and appends nothing', async () => {
      const { store, log } = open(backend);
      const adapter = new KeyvDgent({ store });
      await adapter.set('keep', 'kept');
      const before = await eventCount(log);
      await expect(adapter.set('', 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(adapter.set('a\0b', 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(adapter.set('k', 'v', Number.NaN)).rejects.toBeInstanceOf(ValidationError);
      await expect(adapter.set('k', 'v', '1000' as unknown as number)).rejects.toBeInstanceOf(ValidationError);
      await expect(adapter.set('k', () => 1)).rejects.toBeInstanceOf(SerializationError);
      await expect(adapter.setMany([{ key: 'ok', value: 1 }, { key: '', value: 2 }])).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(adapter.setMany('nope' as never)).rejects.toBeInstanceOf(ValidationError);
      await expect(adapter.deleteMany('nope' as never)).rejects.toBeInstanceOf(ValidationError);
      adapter.namespace = 'bad:ns';
      await expect(adapter.set('k', 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      adapter.namespace = undefined;
      // through Keyv: it reports the adapter's typed error on 'error' and resolves false
      const errors: unknown[] = [];
      const keyv = new Keyv({ store: new KeyvDgent({ store }), namespace: 'a*b' });
      keyv.on('error', (e) => errors.push(e));
      expect(await keyv.set('k', 'v')).toBe(false);
      expect(errors[0]).toBeInstanceOf(InvalidKeyError);
      expect(await eventCount(log)).toBe(before);
      expect(await adapter.get('keep')).toBe('kept');
    });

    it('storage contract: empty batches, the namespace property, iterator(namespace)', async () => {
      const adapter = new KeyvDgent({ store: open(backend).store });
      expect([await adapter.getMany([]), await adapter.hasMany([]), await adapter.setMany([]), await adapter.deleteMany([])]).toEqual([[], [], [], []]);
      expect(adapter.namespace).toBeUndefined();
      await adapter.set('plain', 1);
      adapter.namespace = 'ns1';
      await adapter.set('x', 2);
      adapter.namespace = undefined;
      const inNs: unknown[] = [];
      for await (const entry of adapter.iterator('ns1')) inNs.push(entry);
      expect(inNs).toEqual([['x', 2]]);
      expect(await adapter.get('x')).toBeUndefined();
    });

    it('constructor mistakes are ValidationErrors', () => {
      expect(() => new KeyvDgent({} as never)).toThrow(ValidationError);
      expect(() => new KeyvDgent({ store: new Map() as never })).toThrow(ValidationError);
      expect(() => new KeyvDgent({ store: open(backend).store, pageSize: 0 })).toThrow(ValidationError);
    });
  });
}

