/**
 * RedisEventLog.eraseStream (the StreamEraser capability, for the Store's purge) on the shared
 * single-node Redis (unique key prefixes): a model-based property against MemoryEventLog's
 * erasure, and Store.purge over a Redis log with Redis views leaving no value in any key.
 * The same property runs on a Redis Cluster in test/redis-cluster.int.test.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { ERASED_EVENT_TYPE, MemoryEventLog, Store, ValidationError } from '../src/index.js';
import { RedisEventLog, RedisViewStorage } from '../src/redis.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { deleteByPrefix, scanKeys } from './fixtures/redis-keys.js';
import { eraseProperty, expectSameReads, shape } from './support/redis-erase-property.js';

const up = await requireService('Redis', REDIS_URL);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Every value stored under the prefix, as text (whatever the key type). */
export async function dumpKeys(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  for (const k of (await scanKeys(redis, prefix)).sort()) {
    const type = await redis.type(k);
    const v =
      type === 'stream' ? await redis.xrange(k, '-', '+')
      : type === 'hash' ? await redis.hgetall(k)
      : type === 'zset' ? await redis.zrange(k, '0', '-1')
      : type === 'list' ? await redis.lrange(k, 0, -1)
      : type === 'set' ? await redis.smembers(k)
      : await redis.get(k);
    out.push(`${k} ${JSON.stringify(v)}`);
  }
  return out.join('\n');
}

describe.skipIf(!up)('RedisEventLog.eraseStream', () => {
  const prefixes: string[] = [];
  const redis = up ? new Redis(REDIS_URL) : undefined;
  afterAll(async () => {
    for (const p of prefixes) await deleteByPrefix(redis!, p);
    await redis?.quit();
  });
  const fresh = (): { log: RedisEventLog; prefix: string } => {
    const prefix = uniqueName('dgent_test_erase');
    prefixes.push(`{${prefix}}`);
    return { log: new RedisEventLog({ url: REDIS_URL, prefix, pageSize: 3 }), prefix };
  };

  it('random appends, appendMany, erasures and retries read the same as on MemoryEventLog (readAll windows, read both ways, revision, subscribe)', async () => {
    await eraseProperty(async () => {
      const { log, prefix } = fresh();
      return {
        log,
        cleanup: async () => {
          await log.close();
          await deleteByPrefix(redis!, `{${prefix}}`);
        },
      };
    }, 60);
  }, 300_000);

  it('erases atomically: the data and metadata leave every key of the log, positions and revisions stay, later appends go on after them', async () => {
    const { log, prefix } = fresh();
    try {
      await log.append('pii', [
        { id: 'e1', type: 'Set', data: { email: 'secret@example.com' }, metadata: { ip: '10.9.8.7' } },
        { id: 'e2', type: 'Set', data: { email: 'secret2@example.com' } },
      ]);
      await log.append('other', [{ type: 'Set', data: { email: 'public@example.com' } }]);
      await log.append('pii', [{ id: 'e3', type: 'Purged', data: null }]);
      expect(await log.eraseStream('pii', 3)).toBe(2);
      expect(await log.eraseStream('pii', 3)).toBe(0); // idempotent
      const dump = await dumpKeys(redis!, `{${prefix}}`);
      expect(dump).not.toContain('secret');
      expect(dump).not.toContain('10.9.8.7');
      expect(dump).toContain('public@example.com');
      const all = await collect(log.readAll());
      expect(all.map((e) => [e.position, e.stream, e.revision, e.type, e.data])).toEqual([
        [1, 'pii', 1, ERASED_EVENT_TYPE, null],
        [2, 'pii', 2, ERASED_EVENT_TYPE, null],
        [3, 'other', 1, 'Set', { email: 'public@example.com' }],
        [4, 'pii', 3, 'Purged', null],
      ]);
      expect(all[0]!.metadata).toEqual({});
      expect(all[0]!.id).toBe('e1');
      // an exact retry of an erased batch still answers with its original results
      expect(await log.append('pii', [{ id: 'e1', type: 'Set', data: { email: 'secret@example.com' }, metadata: { ip: '10.9.8.7' } }, { id: 'e2', type: 'Set', data: { email: 'secret2@example.com' } }])).toEqual({ revision: 2, position: 2 });
      expect(await log.append('pii', [{ type: 'Set', data: 1 }], { expectedRevision: 3 })).toEqual({ revision: 4, position: 5 });
      expect(await log.revision('pii')).toBe(4);
      // another instance on the same keys reads the same
      const again = new RedisEventLog({ url: REDIS_URL, prefix });
      expect((await collect(again.readAll())).map(shape)).toEqual((await collect(log.readAll())).map(shape));
      await again.close();
    } finally {
      await log.close();
    }
  });

  it('bad arguments are ValidationError and erase nothing; an unknown stream erases nothing', async () => {
    const { log } = fresh();
    const ref = new MemoryEventLog();
    try {
      for (const l of [log, ref]) await l.append('s', [{ id: 'x', type: 'T', data: 1 }]);
      await expect(log.eraseStream('s', 0)).rejects.toBeInstanceOf(ValidationError);
      await expect(log.eraseStream('s', 1.5)).rejects.toBeInstanceOf(ValidationError);
      expect(await log.eraseStream('nope', 10)).toBe(0);
      expect(await log.eraseStream('s', 1)).toBe(0);
      await expectSameReads(ref, log);
    } finally {
      await log.close();
      await ref.close();
    }
  });

  it('Store.purge on a Redis log with Redis views: no value left in any log or view key, an audit entry without data, and a rebuild does not bring it back', async () => {
    const { log, prefix } = fresh();
    const viewPrefix = uniqueName('dgent_test_purge_views');
    prefixes.push(viewPrefix);
    const views = new RedisViewStorage({ url: REDIS_URL, prefix: viewPrefix });
    const store = new Store({ log, views, sweepIntervalMs: 0 });
    try {
      await store.set('pii', { email: 'secret@example.com', age: 40 }, { actor: 'u1', metadata: { source: 'signup-form-x' } });
      await store.update<{ age: number }>('pii', (d) => void (d!.age = 41));
      await store.set('keep', { email: 'public@example.com', age: 7 });
      await store.purge('pii', { actor: 'dpo' });
      const dump = async () => `${await dumpKeys(redis!, `{${prefix}}`)}\n${await dumpKeys(redis!, viewPrefix)}`;
      // the views are async: these reads wait until they have caught up with the purge
      expect(await store.get('pii')).toBeUndefined();
      expect(await store.versions('pii')).toEqual([]);
      expect((await store.audit({ key: 'pii' })).map((a) => [a.operation, a.actor, a.metadata])).toEqual([['purge', 'dpo', null]]);
      let all = await dump();
      expect(all).not.toContain('secret@example.com');
      expect(all).not.toContain('signup-form-x');
      expect(all).toContain('public@example.com');
      await store.rebuildViews();
      all = await dump();
      expect(all).not.toContain('secret@example.com');
      expect(await store.get('pii')).toBeUndefined();
      expect(await store.get('keep')).toEqual({ email: 'public@example.com', age: 7 });
    } finally {
      await store.close();
      await views.close();
      await log.close();
    }
  }, 60_000);
});
