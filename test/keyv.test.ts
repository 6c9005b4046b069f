/**
 * KeyvDgent's own tests on memory and SQLite (the cases are in keyv-cases.ts; PostgreSQL runs them
 * in keyv.int.test.ts), and disconnect.
 */
import { describe, expect, it } from 'vitest';
import Keyv from 'keyv';
import { ClosedError, MemoryEventLog } from '../src/index.js';
import { KeyvDgent } from '../src/keyv.js';
import { keyvAdapterCases, open } from './keyv-cases.js';

keyvAdapterCases('memory');
keyvAdapterCases('sqlite');

describe('KeyvDgent disconnect', () => {
  it('closes a Store the adapter opened, and leaves a given Store open', async () => {
    const log = new MemoryEventLog();
    const own = new KeyvDgent({ log, sweepIntervalMs: 0 });
    await own.set('k', 'v');
    await new Keyv({ store: own }).disconnect();
    await expect(own.store.get('k')).rejects.toBeInstanceOf(ClosedError);
    const { store } = open('memory');
    const shared = new KeyvDgent({ store });
    await shared.set('k', 'v');
    await new Keyv({ store: shared }).disconnect();
    expect(await store.get('k')).toBe('v');
    await log.close();
  });
});
