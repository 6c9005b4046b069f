/**
 * A Store whose views are in Redis (async) across a Redis outage, the log elsewhere: reads fail
 * with BackendUnavailableError while Redis cannot be reached, the views' runner retries instead of
 * failing, and once Redis is back every acknowledged write reads back, without a new Store.
 */
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, MemoryEventLog, Store } from '../src/index.js';
import { RedisViewStorage } from '../src/redis.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { dropRedisKeys } from './fixtures/redis-keys.js';

const redisUp = await requireService('Redis', REDIS_URL);

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!redisUp)('a Store with Redis views (async): a key first written by incr', () => {
  it('reads back at once, though the views were not built yet when incr read the key (their absence is not cached)', async () => {
    const prefix = uniqueName('first');
    const views = new RedisViewStorage({ url: REDIS_URL, prefix });
    const store = new Store({ log: new MemoryEventLog(), views, sweepIntervalMs: 0 });
    try {
      expect(await store.incr('c')).toBe(1);
      expect(await store.get('c')).toBe(1);
      expect(await store.has('c')).toBe(true);
      expect((await store.list()).items.map((e) => e.key)).toEqual(['c']);
    } finally {
      await store.close();
      await dropRedisKeys(views, prefix);
      await views.close();
    }
  });
});

describe.skipIf(!redisUp)('a Store with Redis views (async) across a Redis outage', () => {
  it('reads fail with BackendUnavailableError during it; the views retry, catch up after it, and read every acknowledged write', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    const prefix = uniqueName('outage');
    const views = new RedisViewStorage({ url: proxy.url(REDIS_URL), prefix });
    const store = new Store({ log: new MemoryEventLog(), views, sweepIntervalMs: 0 });
    try {
      for (let i = 0; i < 5; i++) await store.incr('c');
      expect(await store.get('c')).toBe(5);
      proxy.cut();
      // the log takes the writes; the views' runner meets the outage folding them
      for (let i = 0; i < 5; i++) await store.set(`k${i}`, i);
      await expect(store.get('c')).rejects.toBeInstanceOf(BackendUnavailableError);
      await expect(store.list()).rejects.toBeInstanceOf(BackendUnavailableError);
      await expect(store.incr('c')).rejects.toBeInstanceOf(BackendUnavailableError);
      await until(async () => (await store.status()).views.some((v) => v.lastError !== undefined), 'a view to report the outage');
      expect((await store.status()).views.filter((v) => v.state === 'failed')).toEqual([]);
      proxy.restore();
      await until(async () => (await store.get('k4')) === 4, 'the views to catch up');
      expect(await store.get('c')).toBe(5);
      for (let i = 0; i < 5; i++) expect(await store.get(`k${i}`)).toBe(i);
      expect(await store.incr('c')).toBe(6);
      const st = await store.status();
      expect(st.views.map((v) => v.state).filter((s) => s === 'failed')).toEqual([]);
      expect(st.healthy).toBe(true);
    } finally {
      proxy.restore();
      await store.close();
      await dropRedisKeys(views, prefix);
      await views.close();
      await proxy.close();
    }
  }, 120_000);
});
