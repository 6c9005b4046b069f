/**
 * RedisAgent.subscribe when announcements are lost while the subscription stays up (an ioredis
 * Cluster moves its subscriber connection to another node without a reconnect event when its node
 * list changes: see ioredis's ClusterSubscriber): the next announcement fills the gap from the history, so
 * listeners still hear every version, in order. Lost announcements are made here by saving
 * through an agent with `publish: false`.
 */
import { describe, expect, it } from 'vitest';
import { RedisAgent } from '../src/redis.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { until } from './support/redis-cluster.js';

const up = await requireService('Redis', REDIS_URL);

describe.skipIf(!up)('RedisAgent.subscribe with lost announcements', () => {
  it('a gap in the announced versions is filled from the history, oldest first, before the announced save', async () => {
    const key = uniqueName('dgent_gap');
    const loud = new RedisAgent<number>({ url: REDIS_URL, key, ttlMs: 60_000 });
    const quiet = new RedisAgent<number>({ url: REDIS_URL, key, publish: false, ttlMs: 60_000 });
    const listener = new RedisAgent<number>({ url: REDIS_URL, key });
    try {
      await loud.save(0); // version 1, before subscribing: not news
      const heard: number[] = [];
      const off = listener.subscribe((s, { version }) => heard.push(version * 1000 + s));
      await listener.subscribed();
      await loud.save(2); // v2, announced
      await quiet.save(3); // v3, not announced
      await quiet.save(4); // v4, not announced
      await loud.save(5); // v5, announced
      await until(async () => heard.length >= 4 && heard.at(-1) === 5005, 'the listener to hear version 5', 30_000);
      expect(heard).toEqual([2002, 3003, 4004, 5005]);
      off();
    } finally {
      for (const a of [loud, quiet, listener]) await a.close();
    }
  });
});
