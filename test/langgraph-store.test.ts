/**
 * DgentStore (dgent/langgraph) on memory and SQLite logs: the model test against LangGraph's
 * InMemoryStore (test/langgraph-store-model.ts), with and without semantic search, plus examples of
 * what the model does not cover: hostile labels on the Store, invalid input, TTL under a fake clock,
 * versions and time travel, vectors of deleted items, filters pushed down to the Store's query.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidNamespaceError } from '@langchain/langgraph-checkpoint';
import { afterAll, describe, expect, it } from 'vitest';
import { FileEventLog, InvalidKeyError, MemoryEventLog, SqliteEventLog, SqliteViewStorage, ValidationError, type EventLog } from '../src/index.js';
import { DgentStore, type DgentStoreCommonOptions } from '../src/langgraph.js';
import { VectorAgent } from '../src/vector.js';
import { compileFilter, parseFilter } from '../src/langgraph/dgent-store-filter.js';
import { embedText, fakeEmbeddings, runModel } from './langgraph-store-model.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-lgstore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logs: Record<string, () => EventLog> = {
  memory: () => new MemoryEventLog(),
  sqlite: () => new SqliteEventLog({ path: join(dir, `store-${Math.random().toString(36).slice(2)}.db`) }),
};

for (const [name, open] of Object.entries(logs)) {
  describe(`DgentStore on ${name}`, () => {
    it('random operation sequences give the same results as InMemoryStore (get, put, delete, search with filters, listNamespaces, batch)', async () => {
      const log = open();
      try {
        await runModel(log, { runs: 100, withIndex: false, label: name });
      } finally {
        await log.close();
      }
    }, 300_000);

    it('with index: semantic search scores and ranks as InMemoryStore does', async () => {
      const log = open();
      try {
        await runModel(log, { runs: 50, withIndex: true, label: `${name}i` });
      } finally {
        await log.close();
      }
    }, 300_000);
  });
}

describe('DgentStore examples', () => {
  const stores: DgentStore[] = [];
  const logsOpen: EventLog[] = [];
  afterAll(async () => {
    for (const s of stores) await s.stop();
    for (const l of logsOpen) await l.close();
  });
  function make(options: Partial<DgentStoreCommonOptions> = {}, log: EventLog = new MemoryEventLog()): { store: DgentStore; log: EventLog } {
    const store = new DgentStore({ log, storeOptions: { sweepIntervalMs: 0 }, ...options });
    stores.push(store);
    logsOpen.push(log);
    return { store, log };
  }
  async function eventCount(log: EventLog): Promise<number> {
    let n = 0;
    for await (const _ of log.readAll()) n += 1;
    return n;
  }

  it("hostile labels ('/', '*', '%', escapes spelled out, unicode) round-trip and map to escaped Store namespaces", async () => {
    const { store } = make();
    const ns = ['a/b', '*', '%2F', '日本 語', 'x%y'];
    await store.put(ns, 'k/*', { v: 1 });
    expect((await store.get(ns, 'k/*'))?.value).toEqual({ v: 1 });
    expect(await store.get(['a%2Fb', '*', '%2F', '日本 語', 'x%y'], 'k/*')).toBeNull();
    expect(await store.listNamespaces()).toEqual([ns]);
    expect((await store.search(['a/b', '*'])).map((i) => i.namespace)).toEqual([ns]);
    expect(await (await store.store()).listNamespaces()).toContain('lg.a%2Fb.%2A.%252F.日本 語.x%25y');
  });

  it('invalid namespaces get InvalidNamespaceError, bad values, operators and limits ValidationError, and nothing is appended', async () => {
    const { store, log } = make();
    await store.put(['ok'], 'k', { v: 1 });
    const before = await eventCount(log);
    for (const ns of [[], ['a.b'], ['a:b'], [''], ['langgraph'], ['a\0b']]) await expect(store.put(ns, 'k', { v: 1 }), JSON.stringify(ns)).rejects.toBeInstanceOf(InvalidNamespaceError);
    await expect(store.put(['ok'], 'k', [1, 2] as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put(['ok'], 'k', 'text' as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put(['ok'], 'k', { v: 1 }, undefined, { ttl: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.search(['ok'], { filter: { v: { $regex: 'x' } } })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.search(['ok'], { filter: { v: { $in: 3 } } })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.search(['ok'], { limit: -1 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.listNamespaces({ maxDepth: 0 })).rejects.toBeInstanceOf(ValidationError);
    await expect(store.put(['ok'], '', { v: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
    // a batch is checked whole before anything runs
    await expect(store.batch([{ namespace: ['ok'], key: 'k' }, { namespace: ['ok'], key: 'j', value: { v: 2 } }, { namespace: ['a.b'], key: 'k', value: { v: 1 } }])).rejects.toBeInstanceOf(InvalidNamespaceError);
    await expect(store.batch([{ namespace: ['ok'], key: 'j', value: { v: 2 } }, { nonsense: true } as never])).rejects.toBeInstanceOf(ValidationError);
    expect(await eventCount(log)).toBe(before);
    expect(() => new DgentStore({ log, prefix: 'a.b' })).toThrow(ValidationError);
    expect(() => new DgentStore({ log, ttl: { defaultTtl: 0 } })).toThrow(ValidationError);
    expect(() => new DgentStore({} as never)).toThrow(ValidationError);
    expect(() => new DgentStore({ log, index: { dims: 0, embed: async () => [] } })).toThrow(ValidationError);
  });

  it('on a file log with async views in a SQLite file (storeOptions.views): a store reads its own writes', async () => {
    const log = new FileEventLog({ dir: join(dir, 'file-log') });
    const views = new SqliteViewStorage({ path: join(dir, 'file-views.db') });
    const { store } = make({ storeOptions: { views, sweepIntervalMs: 0 } }, log);
    await store.put(['f', 'x/y'], 'k', { n: 1 });
    await store.put(['f', 'x/y'], 'k', { n: 2 });
    expect((await store.search(['f'], { filter: { n: { $gt: 1 } } })).map((i) => [i.namespace, i.value])).toEqual([[['f', 'x/y'], { n: 2 }]]);
    expect((await store.versions(['f', 'x/y'], 'k')).map((v) => v.value)).toEqual([{ n: 2 }, { n: 1 }]);
    await store.stop();
    await views.close();
  });

  it('filters split into Store query filters and in-process conditions', () => {
    const c = compileFilter(parseFilter({ n: { $gt: 1, $nin: [2, 3] }, 'odd-name': 'p', s: null, deep: { a: 1 }, e: {} }));
    expect(c.pushed).toEqual([
      { path: 'n', op: 'gt', value: 1 },
      { path: 'n', op: 'ne', value: 2 },
      { path: 'n', op: 'ne', value: 3 },
      { path: 's', op: 'eq', value: null },
    ]);
    expect(c.residual.map((r) => r.field)).toEqual(['odd-name', 'deep']);
  });

  it('TTL in minutes on the Store clock: defaultTtl, a per-put ttl, ttl null, and refreshOnRead', async () => {
    let now = 1_000_000;
    const clock = { now: () => now };
    const { store } = make({ ttl: { defaultTtl: 1 }, storeOptions: { sweepIntervalMs: 0, clock } });
    await store.put(['t'], 'default', { v: 1 });
    await store.put(['t'], 'long', { v: 2 }, undefined, { ttl: 10 });
    await store.put(['t'], 'forever', { v: 3 }, undefined, { ttl: null });
    now += 59_000;
    expect((await store.search(['t'])).map((i) => i.key)).toEqual(['default', 'forever', 'long']);
    now += 2_000;
    expect(await store.get(['t'], 'default')).toBeNull();
    expect((await store.search(['t'])).map((i) => i.key)).toEqual(['forever', 'long']);
    now += 10 * 60_000;
    expect((await store.search(['t'])).map((i) => i.key)).toEqual(['forever']);
    await store.delete(['t'], 'forever');
    expect(await store.listNamespaces()).toEqual([]);

    const refreshed = make({ ttl: { defaultTtl: 1, refreshOnRead: true }, storeOptions: { sweepIntervalMs: 0, clock } }).store;
    await refreshed.put(['r'], 'k', { v: 1 });
    now += 50_000;
    expect(await refreshed.get(['r'], 'k')).not.toBeNull(); // restarts the minute
    now += 50_000;
    expect((await refreshed.search(['r'])).length).toBe(1); // 100 s after the put, 50 s after the refresh; refreshes again
    now += 59_000;
    expect(await refreshed.get(['r'], 'k', { refreshTtl: false })).not.toBeNull();
    now += 2_000;
    expect(await refreshed.get(['r'], 'k')).toBeNull();
  });

  it('versions() lists puts and deletions newest first; get(..., { at }) travels to a version or a time; createdAt survives updates and restarts after a delete', async () => {
    const { store } = make();
    await store.put(['h'], 'k', { v: 1 });
    const first = (await store.get(['h'], 'k'))!;
    await new Promise((r) => setTimeout(r, 5));
    await store.put(['h'], 'k', { v: 2 });
    const second = (await store.get(['h'], 'k'))!;
    expect(second.version).toBe(2);
    expect(second.createdAt).toEqual(first.createdAt);
    expect(second.updatedAt.getTime()).toBeGreaterThan(first.updatedAt.getTime());
    await new Promise((r) => setTimeout(r, 5)); // the delete gets a later millisecond than version 2 (at: { time } looks up by log time)
    await store.delete(['h'], 'k');
    await new Promise((r) => setTimeout(r, 5));
    await store.put(['h'], 'k', { v: 3 });
    const third = (await store.get(['h'], 'k'))!;
    expect(third.createdAt.getTime()).toBeGreaterThan(first.createdAt.getTime());
    const vs = await store.versions(['h'], 'k');
    expect(vs.map((v) => [v.version, v.value, v.deleted, v.operation])).toEqual([
      [4, { v: 3 }, false, 'set'],
      [3, null, true, 'delete'],
      [2, { v: 2 }, false, 'set'],
      [1, { v: 1 }, false, 'set'],
    ]);
    expect(vs[2]!.createdAt).toEqual(first.createdAt);
    expect(vs[0]!.createdAt).toEqual(third.createdAt);
    expect(await store.versions(['h'], 'k', { limit: 1 })).toHaveLength(1);
    expect((await store.get(['h'], 'k', { at: { version: 1 } }))?.value).toEqual({ v: 1 });
    expect(await store.get(['h'], 'k', { at: { version: 3 } })).toBeNull();
    expect(await store.get(['h'], 'k', { at: { version: 9 } })).toBeNull();
    const atTime = (await store.get(['h'], 'k', { at: { time: second.updatedAt } }))!;
    expect([atTime.value, atTime.version, atTime.createdAt]).toEqual([{ v: 2 }, 2, first.createdAt]);
    expect(await store.get(['h'], 'k', { at: { time: first.createdAt.getTime() - 1 } })).toBeNull();
  });

  it('semantic search scores an item only by the vectors of its current version (an expired version left its vectors behind)', async () => {
    let now = 5_000_000;
    const { store } = make({ index: { dims: 8, embed: fakeEmbeddings, fields: ['title', 'chapters[*].content'] }, storeOptions: { sweepIntervalMs: 0, clock: { now: () => now } } });
    await store.put(['d'], 'a', { title: 'plain rice', chapters: [{ content: 'apple pie' }, { content: 'banana' }] }, undefined, { ttl: 1 });
    expect((await store.search(['d'], { query: 'apple pie' }))[0]!.score).toBeCloseTo(1, 5);
    now += 2 * 60_000; // expired: its metadata (which vector fields it had) is invisible now
    await store.put(['d'], 'a', { title: 'plain rice' });
    const cos = (x: number[], y: number[]) => x.reduce((a, v, i) => a + v * y[i]!, 0) / Math.hypot(...x) / Math.hypot(...y);
    const [hit] = await store.search(['d'], { query: 'apple pie' });
    expect(hit!.score).toBeCloseTo(cos(embedText('plain rice'), embedText('apple pie')), 5);
  });

  it('two DgentStores with an index on one log (two processes) write in turns: vectors of both are scored by both', async () => {
    const path = join(dir, 'two-writers.db');
    const index = { dims: 8, embed: fakeEmbeddings, fields: ['text'] };
    const a = make({ index }, new SqliteEventLog({ path })).store;
    const b = make({ index }, new SqliteEventLog({ path })).store; // its own connection, as another process has
    const texts = ['apple pie', 'banana bread', 'cherry tart', 'plain rice'];
    for (const [i, t] of texts.entries()) await (i % 2 === 0 ? a : b).put(['m'], `k${i}`, { text: t });
    await a.delete(['m'], 'k1'); // written by b
    await b.put(['m'], 'k2', { text: 'apple' }); // written by a before
    for (const s of [a, b]) {
      const hits = await s.search(['m'], { query: 'cherry tart' });
      expect(hits.map((h) => h.key).sort()).toEqual(['k0', 'k2', 'k3']);
      expect(hits.every((h) => h.score !== undefined)).toBe(true);
    }
    expect((await a.search(['m'], { query: 'apple', limit: 1 }))[0]?.key).toBe('k2');
  });

  it('refreshOnRead with an index: the refreshed version keeps its vectors', async () => {
    let now = 7_000_000;
    const { store } = make({ index: { dims: 8, embed: fakeEmbeddings, fields: ['text'] }, ttl: { defaultTtl: 1, refreshOnRead: true }, storeOptions: { sweepIntervalMs: 0, clock: { now: () => now } } });
    await store.put(['r'], 'k', { text: 'apple pie' });
    now += 50_000;
    expect((await store.get(['r'], 'k'))?.version).toBe(1); // refreshes: version 2
    now += 50_000;
    const [hit] = await store.search(['r'], { query: 'apple pie', refreshTtl: false });
    expect([hit!.version, hit!.score! > 0.99999]).toEqual([2, true]);
  });

  it('semantic search: nested and "$" fields, index: false, re-embedding on update, vectors dropped on delete, another instance on the same log sees the vectors', async () => {
    const log = new SqliteEventLog({ path: join(dir, 'vectors.db') });
    const index = { dims: 8, embed: fakeEmbeddings, fields: ['meta.title', 'chapters[*].content'] };
    const { store } = make({ index }, log);
    await store.put(['docs'], 'a', { meta: { title: 'apple pie' }, chapters: [{ content: 'rice' }, { content: 'banana' }] });
    await store.put(['docs'], 'b', { meta: { title: 'cherry tart' } });
    await store.put(['docs'], 'c', { meta: { title: 'apple pie' } }, false); // not indexed
    await store.put(['docs'], 'd', { other: 'apple pie' }, ['$']);
    const hits = await store.search(['docs'], { query: 'apple pie' });
    expect(hits.map((h) => h.key)).toEqual(['a', 'd', 'b', 'c']);
    expect(hits[0]!.score).toBeCloseTo(1, 5);
    expect(hits[3]!.score).toBeUndefined();
    // re-embedded on update: 'a' no longer about apples
    await store.put(['docs'], 'a', { meta: { title: 'plain rice' } });
    const cos = (x: number[], y: number[]) => x.reduce((a, v, i) => a + v * y[i]!, 0) / Math.hypot(...x) / Math.hypot(...y);
    const a = (await store.search(['docs'], { query: 'apple pie' })).find((h) => h.key === 'a')!;
    expect(a.score).toBeCloseTo(cos(embedText('plain rice'), embedText('apple pie')), 5);
    await store.delete(['docs'], 'd');
    const other = make({ index }, log).store;
    const seen = await other.search(['docs'], { query: 'plain rice', filter: { meta: { title: 'plain rice' } } });
    expect(seen.map((h) => [h.key, Math.round(h.score! * 1e5) / 1e5])).toEqual([['a', 1]]);
    const theirs = (await other.search(['docs'], { query: 'apple pie' })).map((h) => [h.key, h.score]);
    expect(theirs).toEqual((await store.search(['docs'], { query: 'apple pie' })).map((h) => [h.key, h.score]));
    expect(theirs.map(([k]) => k).sort()).toEqual(['a', 'b', 'c']);
    expect(theirs[2]).toEqual(['c', undefined]);
    // the logged VectorAgent holds the current vectors only: a's title (its chapters' two were dropped), b's title; d's was removed
    const agent = new VectorAgent({ dimension: 8, metric: 'cosine', log, stream: 'lg:vectors', engine: 'js' });
    expect(await agent.count()).toBe(2);
    await agent.close();
  });
});
