/**
 * Store.rebuildViews({ only, onProgress }): the public rebuild `dgent rebuild <projection>` uses
 * (instead of reaching into the Store's runner). Only the named views get a new generation; the
 * progress of each is the runner's RebuildProgress, processed never going back and ending at total.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { Store, ValidationError, type RebuildProgress } from '../src/index.js';

describe('Store.rebuildViews', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function storeWith(keys: number): Promise<{ store: Store; log: MemoryEventLog }> {
    const log = new MemoryEventLog();
    const store = new Store({ log, sweepIntervalMs: 0 });
    cleanups.push(async () => {
      await store.close();
      await log.close();
    });
    for (let i = 0; i < keys; i++) await store.set(`k${i % 40}`, { i });
    return { store, log };
  }
  const generations = async (store: Store): Promise<Record<string, number>> => Object.fromEntries((await store.status()).views.map((v) => [v.name, v.generation]));

  it('only: rebuilds the named views (a new generation), reporting progress to the end; the others stay', async () => {
    const { store, log } = await storeWith(300);
    const total = (await (async () => {
      let n = 0;
      for await (const _ of log.readAll()) n++;
      return n;
    })());
    const before = await generations(store);
    const seen: RebuildProgress[] = [];
    await store.rebuildViews({ only: ['kv_versions'], progressEveryMs: 0, onProgress: (p) => seen.push(p) });
    const after = await generations(store);
    expect(after).toEqual({ ...before, kv_versions: before.kv_versions! + 1 });
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((p) => p.name === 'kv_versions')).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.processed).toBeGreaterThanOrEqual(seen[i - 1]!.processed);
    expect(seen.at(-1)).toMatchObject({ processed: total, total });
    expect(await store.get('k7')).toEqual({ i: 287 });
    expect((await store.versions('k7')).length).toBe(8);
  });

  it('without only: all three, each reported to its end; an unknown view is a ValidationError and rebuilds nothing', async () => {
    const { store } = await storeWith(50);
    const before = await generations(store);
    await expect(store.rebuildViews({ only: ['kv', 'nope' as never] })).rejects.toBeInstanceOf(ValidationError);
    expect(await generations(store)).toEqual(before);
    const ends = new Map<string, RebuildProgress>();
    await store.rebuildViews({ onProgress: (p) => ends.set(p.name, p) });
    expect([...ends.keys()]).toEqual(['kv', 'kv_versions', 'kv_audit', 'kv_relations']);
    for (const p of ends.values()) expect(p.processed).toBe(p.total);
    expect(await generations(store)).toEqual(Object.fromEntries(Object.entries(before).map(([k, g]) => [k, g + 1])));
  });
});
