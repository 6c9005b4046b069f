/**
 * Observability on the network backends (real PostgreSQL and Redis): stats() counts, and health()
 * of a log and a Store that are up, that go down behind a TCP proxy (connections cut) or stall
 * (black hole, so the health timeout answers), and of a URL on a closed port: `ok: false` with
 * BackendUnavailableError, never a throw.
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, Store } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { RedisEventLog } from '../src/redis.js';
import { deleteByPrefix } from './fixtures/redis-keys.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { Redis } from 'ioredis';

const pgUp = await requireService('PostgreSQL', postgresUrl());
const redisUp = await requireService('Redis', REDIS_URL);

/** A local port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

function withPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

describe.skipIf(!pgUp)('PostgreSQL', () => {
  const schemas: string[] = [];
  afterAll(() => dropSchemas(schemas));

  it('stats() counts the log\'s operations and the Store\'s; health() is ok with the log in details', async () => {
    const schema = uniqueSchema('obs');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema, stats: true });
    const store = new Store({ log, sweepIntervalMs: 0, stats: true });
    await store.set('a', { n: 1 });
    expect(await store.get('a')).toEqual({ n: 1 });
    expect(await store.get('b')).toBeUndefined();
    const h = await store.health();
    expect(h).toMatchObject({ ok: true, target: 'store', details: { log: { ok: true, target: 'postgres' }, viewStorage: 'postgres' } });
    expect(store.stats()).toMatchObject({ operations: { set: { count: 1, errors: 0 }, get: { count: 2, errors: 0 } }, cache: { hits: 1, misses: 1, hitRatio: 0.5 } });
    expect(log.stats().operations.append).toMatchObject({ count: 1, errors: 0 });
    await store.close();
    await log.close();
  });

  it('health() of a log on a closed port is ok: false with BackendUnavailableError; a Store over it too', async () => {
    const url = withPort(postgresUrl(), await closedPort());
    const log = new PostgresEventLog({ connectionString: url, schema: uniqueSchema('obs') });
    const h = await log.health();
    expect(h.ok).toBe(false);
    if (!h.ok) expect(h.error).toBeInstanceOf(BackendUnavailableError);
    const store = new Store({ log, sweepIntervalMs: 0 });
    const s = await store.health();
    expect(s.ok).toBe(false);
    if (!s.ok) expect(s.error).toBeInstanceOf(BackendUnavailableError);
    await store.close();
    await log.close();
  });

  it('a server that goes away (connections cut) turns health() to ok: false, and back to ok once it returns', async () => {
    const proxy = await startTcpProxy(postgresUrl());
    const schema = uniqueSchema('obs');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: proxy.url(postgresUrl()), schema, stats: true });
    try {
      await log.append('s', [{ type: 't', data: 1 }]);
      expect((await log.health()).ok).toBe(true);
      proxy.cut();
      const down = await log.health({ timeoutMs: 30_000 });
      expect(down.ok).toBe(false);
      if (!down.ok) expect(down.error).toBeInstanceOf(BackendUnavailableError);
      await expect(log.append('s', [{ type: 't', data: 2 }])).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(log.stats().operations.append).toMatchObject({ count: 2, errors: 1 });
      proxy.restore();
      let back = await log.health({ timeoutMs: 30_000 });
      for (let i = 0; i < 20 && !back.ok; i++) back = await log.health({ timeoutMs: 30_000 });
      expect(back.ok).toBe(true);
    } finally {
      await log.close();
      await proxy.close();
    }
  }, 120_000);

  it('a stalled server (black hole) answers with the health timeout: ok: false, BackendUnavailableError', async () => {
    const proxy = await startTcpProxy(postgresUrl());
    const schema = uniqueSchema('obs');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: proxy.url(postgresUrl()), schema });
    try {
      await log.append('s', [{ type: 't', data: 1 }]);
      proxy.blackhole();
      const h = await log.health({ timeoutMs: 300 });
      expect(h.ok).toBe(false);
      if (!h.ok) expect(h.error).toBeInstanceOf(BackendUnavailableError);
      proxy.restore();
    } finally {
      await log.close();
      await proxy.close();
    }
  }, 120_000);
});

describe.skipIf(!redisUp)('Redis', () => {
  const prefixes: string[] = [];
  afterAll(async () => {
    const redis = new Redis(REDIS_URL);
    for (const p of prefixes) await deleteByPrefix(redis, `{${p}}`);
    redis.disconnect();
  });

  it('stats() counts and health() is ok; on a closed port health() is ok: false with BackendUnavailableError', async () => {
    const prefix = uniqueName('obs');
    prefixes.push(prefix);
    const log = new RedisEventLog({ url: REDIS_URL, prefix, stats: true });
    await log.append('s', [{ type: 't', data: 1 }]);
    expect(await log.revision('s')).toBe(1);
    expect(await log.health()).toMatchObject({ ok: true, target: 'redis' });
    expect(log.stats().operations).toMatchObject({ append: { count: 1, errors: 0 }, revision: { count: 1, errors: 0 } });
    await log.close();
    const down = new RedisEventLog({ url: withPort(REDIS_URL, await closedPort()), prefix });
    const h = await down.health({ timeoutMs: 30_000 });
    expect(h.ok).toBe(false);
    if (!h.ok) expect(h.error).toBeInstanceOf(BackendUnavailableError);
    await down.close();
  });
});
