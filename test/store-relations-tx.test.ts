/**
 * Relationships in transactions and subscriptions on memory and SQLite logs (views inline on the
 * log, and async views): random transactions against the model (read-your-writes inside, the
 * views after the commit, aborted transactions append nothing), atomicity with a conflicting
 * writer, and relate / unrelate heard by subscriptions. PostgreSQL and Redis views: the .int file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, StateNotFoundError } from '../src/core/errors.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';
import { headPosition } from '../src/projections/runner/log-head.js';
import { Store } from '../src/store/store.js';
import type { StoreOptions } from '../src/store/types.js';
import { checkSubscriptions, checkTransactions, TX_EXAMPLES, txsArb, until } from './store-relations-tx-support.js';
import { readAll } from './store-relations-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-relations-tx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const backends: { name: string; log(): EventLog; viewsMode?: 'async' }[] = [
  { name: 'memory', log: () => new MemoryEventLog() },
  { name: 'SQLite', log: () => new SqliteEventLog({ path: join(dir, `log${++files}.db`) }) },
  { name: 'memory, async views', log: () => new MemoryEventLog(), viewsMode: 'async' },
];

async function withStore(b: (typeof backends)[number], fn: (store: Store, log: EventLog) => Promise<void>, o: Partial<StoreOptions> = {}): Promise<void> {
  const log = b.log();
  const store = new Store({ log, sweepIntervalMs: 0, ...(b.viewsMode ? { viewsMode: b.viewsMode } : {}), ...o });
  try {
    await fn(store, log);
  } finally {
    await store.close();
    await log.close();
  }
}

describe.each(backends)('relationships in transactions and subscriptions on $name', (b) => {
  it('random transactions of set / delete / relate / unrelate / related / relatedTo answer as the model inside (read-your-writes) and leave the views equal to it after each commit; an aborted one appends nothing (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(txsArb, (txs) => withStore(b, (store) => checkTransactions(store, txs))),
      {
        numRuns: 100,
        examples: TX_EXAMPLES,
      },
    );
  }, 600_000);

  it('a transaction relating two keys commits its key writes and relation events in one append; a relate of a key absent at commit time is StateNotFoundError inside it', async () => {
    await withStore(b, async (store, log) => {
      await store.set('a', 1);
      const head = await headPosition(log);
      const r = await store.transaction(async (tx) => {
        await tx.set('b', 2);
        await expect(tx.relate('a', 'p', 'zz')).rejects.toBeInstanceOf(StateNotFoundError);
        return tx.relate('a', 'p', 'b', { actor: 'ann' });
      });
      expect(r).toEqual({ version: 1, written: true });
      const events = (await readAll(log)).filter((e) => e.position > head);
      expect(events.map((e) => e.type)).toEqual(['kv.set', 'kv.relation.added']);
      expect(new Set(events.map((e) => e.metadata.tx)).size).toBe(1); // one atomic append: one transaction id
      expect(events[1]!.metadata).toMatchObject({ operation: 'relate', actor: 'ann' });
      expect((await store.related('a', 'p')).map((x) => x.object.key)).toEqual(['b']);
    });
  });

  it('a delete of the object by another writer between the transaction\'s relate and its commit fails the commit; the retry rereads and throws StateNotFoundError; nothing of it is appended', async () => {
    await withStore(b, async (store) => {
      await store.set('a', 1);
      await store.set('b', 1);
      let attempts = 0;
      await expect(store.transaction(async (tx) => {
        attempts++;
        await tx.relate('a', 'p', 'b');
        if (attempts === 1) await store.delete('b'); // another writer: the relate's read of b is stale now
        await tx.set('c', attempts);
      })).rejects.toBeInstanceOf(StateNotFoundError);
      expect(attempts).toBe(2);
      expect(await store.related('a')).toEqual([]);
      expect(await store.get('c')).toBeUndefined();
    });
  });

  it('authorize in a transaction: relate needs write on the subject and read on the object; a denial throws and the transaction appends nothing', async () => {
    await withStore(
      b,
      async (store, log) => {
        await store.set('a', 1, { actor: 'root' });
        await store.set('locked', 1, { actor: 'root' });
        const head = await headPosition(log);
        await expect(store.transaction(async (tx) => {
          await tx.set('x', 1);
          await tx.relate('locked', 'p', 'a');
        }, { actor: 'eve' })).rejects.toBeInstanceOf(AccessDeniedError);
        expect(await headPosition(log)).toBe(head);
        expect(await store.transaction(async (tx) => (await tx.relate('a', 'p', 'locked')).written, { actor: 'eve' })).toBe(true);
      },
      { authorize: (r) => r.actor === 'root' || !(r.action === 'write' && r.key === 'locked') },
    );
  });

  it('subscribe hears relate and unrelate with their relation, filtered by subject or object namespace; relations: false leaves them out', async () => {
    await withStore(b, (store) => checkSubscriptions(store));
  });

  it('store.agent(key).subscribe hears the key\'s values only, not relates of the key', async () => {
    await withStore(b, async (store) => {
      await store.set('a', { n: 1 });
      await store.set('b', 1);
      const agent = store.agent<{ n: number }>('a');
      const heard: [number, number][] = [];
      const all: string[] = [];
      const off = store.subscribe({}, (c) => void all.push(c.type));
      await off.ready;
      const stop = agent.subscribe((state, info) => void heard.push([state.n, info.version]));
      await store.relate('a', 'p', 'b');
      await store.set('a', { n: 2 });
      await until(() => all.length >= 2 && heard.length >= 1, 'the changes');
      expect(all).toEqual(['kv.relation.added', 'kv.set']);
      expect(heard).toEqual([[2, 2]]);
      stop();
      await off();
      await agent.close();
    });
  });
});
