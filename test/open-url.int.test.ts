/**
 * Backends by URL on the network services: openLog/openAgent/openStore with postgres:// (and its
 * schema parameter) and redis:// (and its prefix parameter), and importLog into a log that cannot
 * keep times (Redis): refused without newTimes, appended with it (ids, revisions, metadata kept).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importLog, openAgent, openLog, openStore, SQLAgent, ValidationError } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { RedisAgent, RedisEventLog } from '../src/redis.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService } from './support/services.js';

const schema = uniqueSchema('dgt_open');
const prefix = `dgent-open-${randomUUID().slice(0, 8)}`;
let pgUp = false;
let redisUp = false;
beforeAll(async () => {
  pgUp = await requireService('PostgreSQL', postgresUrl());
  redisUp = await requireService('Redis', REDIS_URL);
});
afterAll(async () => {
  await dropSchemas([schema]);
  if (!redisUp) return;
  // the prefix is letters, digits and '-': no glob characters to escape
  const redis = new Redis(REDIS_URL);
  for await (const keys of redis.scanStream({ match: `*${prefix}*`, count: 500 }) as AsyncIterable<string[]>) if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('backends by URL on PostgreSQL and Redis', () => {
  it('postgres://…?schema= opens a PostgresEventLog in that schema, an SQLAgent and a Store', async () => {
    if (!pgUp) return;
    const url = `${postgresUrl()}?schema=${schema}`;
    const log = await openLog(url);
    expect(log).toBeInstanceOf(PostgresEventLog);
    await log.append('s', [{ type: 'T', data: { a: 1 } }]);
    expect(await log.revision('s')).toBe(1);
    await log.close();
    const agent = await openAgent<{ n: number }>(postgresUrl(), `open-url-${randomUUID()}`);
    expect(agent).toBeInstanceOf(SQLAgent);
    await agent.save({ n: 1 });
    expect(await agent.load()).toEqual({ n: 1 });
    await (agent as unknown as { close(): Promise<void> }).close();
    const store = await openStore(url);
    await store.set('k', 'v', { actor: 'ada' });
    expect(await store.get('k')).toBe('v');
    await store.close();
  }, 60_000);

  it('redis://…?prefix= opens a RedisEventLog under the prefix and a RedisAgent', async () => {
    if (!redisUp) return;
    const log = await openLog(`${REDIS_URL}?prefix=${prefix}`);
    expect(log).toBeInstanceOf(RedisEventLog);
    await log.append('s', [{ type: 'T', data: 1 }]);
    expect(await log.revision('s')).toBe(1);
    await log.close();
    const agent = await openAgent<{ n: number }>(`${REDIS_URL}?prefix=${prefix}:agent:`, 'a1');
    expect(agent).toBeInstanceOf(RedisAgent);
    await agent.save({ n: 2 });
    expect(await agent.load()).toEqual({ n: 2 });
    await (agent as unknown as { close(): Promise<void> }).close();
  }, 60_000);

  it('importLog into Redis: refused without newTimes (nothing written), appended with it keeping ids, revisions and metadata', async () => {
    if (!redisUp) return;
    const log = await openLog(`${REDIS_URL}?prefix=${prefix}-imp`);
    const events = [1, 2, 3].map((i) => ({ id: `imp-${prefix}-${i}`, stream: 'x', revision: i, type: 'T', data: { i }, metadata: { actor: 'a' }, time: new Date(i) }));
    await expect(importLog(log, events)).rejects.toBeInstanceOf(ValidationError);
    expect(await log.revision('x')).toBe(0);
    expect(await importLog(log, events, { newTimes: true })).toEqual({ read: 3, written: 3 });
    const back = [];
    for await (const e of log.read('x')) back.push({ id: e.id, revision: e.revision, data: e.data, metadata: e.metadata });
    expect(back).toEqual(events.map((e) => ({ id: e.id, revision: e.revision, data: e.data, metadata: e.metadata })));
    await log.close();
  }, 60_000);
});
