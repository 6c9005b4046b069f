/**
 * Keyv 5 (installed as the `keyv5` alias) over KeyvDgent with `keyvVersion: 5`: @keyv/test-suite
 * 2.1.2, written for Keyv 5, runs whole (API, values, namespaces) on memory and SQLite; the
 * PostgreSQL run is in keyv5-suite.int.test.ts. Keyv 5 only offers `keyv.iterator()` for adapters
 * whose dialect it lists (sqlite, postgres, ...), so its iterator suite does not apply; the
 * adapter's own iterator under Keyv 5's key prefixes is checked below.
 */
import * as vitest from 'vitest';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import Keyv5 from 'keyv5';
import keyvTestSuite from '@keyv/test-suite';
import { ValidationError } from '../src/index.js';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, type OpenedStore } from './keyv-support.js';

type KeyvClass = Parameters<typeof keyvTestSuite>[1];

for (const backend of ['memory', 'sqlite'] as const) {
  describe(`@keyv/test-suite with Keyv 5 on KeyvDgent (${backend})`, () => {
    let opened: OpenedStore | undefined;
    const adapter = () => new KeyvDgent({ store: (opened ??= openStore(backend)).store, keyvVersion: 5 });
    afterAll(async () => opened?.close());
    keyvTestSuite(vitest, Keyv5 as unknown as KeyvClass, adapter);
  });
}

describe('KeyvDgent with Keyv 5', () => {
  const opened: OpenedStore[] = [];
  afterEach(async () => {
    for (const o of opened.splice(0)) await o.close();
  });

  it("maps Keyv 5's prefixed keys to Store keys of its namespace, its relative ttl to the Store TTL, and deleteMany to one boolean", async () => {
    const clock = { t: 1_000_000, now() { return this.t; } };
    const o = openStore('memory', { clock });
    opened.push(o);
    const adapter = new KeyvDgent({ store: o.store, keyvVersion: 5 });
    const keyv = new Keyv5({ store: adapter, namespace: 'cache' });
    await keyv.set('a', 1, 100);
    await keyv.set('b', 2);
    expect(JSON.parse((await o.store.get<string>('a', { namespace: 'cache' }))!).value).toBe(1);
    expect((await o.store.list({ namespace: 'cache' })).items.map((i) => i.key)).toEqual(['a', 'b']);
    const seen: unknown[] = [];
    for await (const [k] of adapter.iterator()) seen.push(k);
    expect(seen).toEqual(['cache:a', 'cache:b']);
    clock.t += 100;
    expect(await adapter.get('cache:a')).toBeUndefined(); // the Store's TTL, not only Keyv's own check
    expect(await keyv.delete(['a', 'b'])).toBe(true);
    expect(await keyv.delete(['a', 'b'])).toBe(false);
    expect((await adapter.versions('cache:b')).map((v) => v.operation)).toEqual(['delete', 'set']);
  });

  it('Keyv 5 over an adapter left at keyvVersion 6 gets a ValidationError naming keyvVersion for a ttl, and nothing is written', async () => {
    const o = openStore('memory');
    opened.push(o);
    const keyv = new Keyv5({ store: new KeyvDgent({ store: o.store }) });
    const errors: unknown[] = [];
    keyv.on('error', (e: unknown) => errors.push(e));
    expect(await keyv.set('a', 1, 1000)).toBe(false);
    expect(errors[0]).toBeInstanceOf(ValidationError);
    expect(String((errors[0] as Error).message)).toContain('keyvVersion: 5');
    expect((await o.store.audit()).length).toBe(0);
  });
});
