/**
 * Configuration mistakes against real servers: a Redis database the server does not have is
 * refused (ValidationError) and nothing is written anywhere; an unreachable Redis says
 * "connection refused host:port"; loadAt with a bad time is a ValidationError on the server-backed
 * agents too.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, ClosedError, ValidationError } from '../src/core/errors.js';
import { RedisAgent } from '../src/agents/redis-agent.js';
import { RedisEventLog } from '../src/streams/redis/redis-event-log.js';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { freePort } from './support/throwaway-servers.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { expectSerializationErrorNamesTheEvent } from './support/serialization-error.js';

const redisUp = await requireService('Redis', REDIS_URL);
const pgUp = await requireService('PostgreSQL', postgresUrl());

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

/** REDIS_URL with another database index. */
function withDb(db: number): string {
  const u = new URL(REDIS_URL);
  u.pathname = `/${db}`;
  return u.toString();
}

describe.skipIf(!redisUp)('Redis database index', () => {
  const prefix = `${uniqueName('dgent_cfg')}:`;
  let raw: Redis;
  beforeAll(() => {
    raw = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const db of [0, 1]) {
      await raw.select(db);
      const keys = await raw.keys(`${prefix}*`);
      if (keys.length > 0) await raw.del(...keys);
    }
    raw.disconnect();
  });

  /** the server's number of databases (16 by default) */
  async function databases(): Promise<number> {
    const [, n] = (await raw.config('GET', 'databases')) as [string, string];
    return Number(n);
  }

  /** every key under the prefix in databases 0 and 1 */
  async function stored(): Promise<string[]> {
    const out: string[] = [];
    for (const db of [0, 1]) {
      await raw.select(db);
      out.push(...(await raw.keys(`${prefix}*`)).map((k) => `${db}:${k}`));
    }
    await raw.select(0);
    return out.sort();
  }

  it('RedisAgent on a database the server does not have: save rejects with ValidationError, and nothing is written to any database', async () => {
    const missing = await databases(); // indexes are 0 .. n-1
    const url = withDb(missing);
    const a = new RedisAgent<{ n: number }>({ url, prefix, key: 'agent' });
    try {
      const e = await rejection(a.save({ n: 1 }));
      expect(e).toBeInstanceOf(ValidationError);
      expect(e.message).toMatch(new RegExp(`no database ${missing}`));
      // every later call keeps saying so (no silent fall-back to database 0 after a reconnect)
      expect(await rejection(a.save({ n: 2 }))).toBeInstanceOf(ValidationError);
      expect(await rejection(a.load())).toBeInstanceOf(ValidationError);
    } finally {
      await a.close();
    }
    expect(await stored()).toEqual([]);
  });

  it('RedisEventLog on a database the server does not have: append rejects with ValidationError, nothing written', async () => {
    const log = new RedisEventLog({ url: withDb(await databases()), prefix: `${prefix}log` });
    try {
      expect(await rejection(log.append('s', [{ type: 'T', data: 1 }]))).toBeInstanceOf(ValidationError);
      expect(await rejection(log.revision('s'))).toBeInstanceOf(ValidationError);
    } finally {
      await log.close();
    }
    expect(await stored()).toEqual([]);
  });

  it('a database the server has (1) is used, and database 0 is untouched', async () => {
    const a = new RedisAgent<{ n: number }>({ url: withDb(1), prefix, key: 'in-db-1' });
    await a.save({ n: 1 });
    expect(await a.load()).toEqual({ n: 1 });
    await a.close();
    expect(await stored()).toEqual([`1:${prefix}{in-db-1}`]);
  });
});

describe.skipIf(!redisUp)('Redis error messages', () => {
  it('an unreachable Redis: BackendUnavailableError saying "connection refused host:port", not ioredis\'s max-retries text', async () => {
    const port = await freePort();
    const a = new RedisAgent<{ n: number }>({ url: `redis://127.0.0.1:${port}`, key: uniqueName('k') });
    const log = new RedisEventLog({ url: `redis://127.0.0.1:${port}`, prefix: uniqueName('p') });
    try {
      for (const e of [await rejection(a.save({ n: 1 })), await rejection(a.load()), await rejection(log.append('s', [{ type: 'T', data: 1 }]))]) {
        expect(e).toBeInstanceOf(BackendUnavailableError);
        expect(e.message).toContain(`connection refused 127.0.0.1:${port}`);
        expect(e.message).not.toMatch(/max retries/i);
      }
    } finally {
      await a.close();
      await log.close();
    }
  });

  it("RedisAgent.loadAt({ time: 'yesterday' }) is a ValidationError, with a live server and a saved state", async () => {
    const prefix = `${uniqueName('dgent_cfg')}:`;
    const a = new RedisAgent<{ n: number }>({ url: REDIS_URL, prefix, key: 'k' });
    try {
      await a.save({ n: 1 });
      expect(await rejection(a.loadAt({ time: 'yesterday' }))).toBeInstanceOf(ValidationError);
      expect(await a.loadAt({ time: Date.now() + 60_000 })).toEqual({ n: 1 });
    } finally {
      const raw = new Redis(REDIS_URL);
      await raw.del(a.redisKey);
      raw.disconnect();
      await a.close();
    }
  });
});

describe.skipIf(!pgUp)('PostgreSQL', () => {
  /** postgresUrl() with another database or role */
  function pgUrlWith(part: 'database' | 'role', value: string): string {
    const u = new URL(postgresUrl());
    if (part === 'database') u.pathname = `/${value}`;
    else u.username = value;
    return u.toString();
  }

  it.each([
    ['a database that does not exist', pgUrlWith('database', 'dgent_no_such_database')],
    ['a role that does not exist', pgUrlWith('role', 'dgent_no_such_role')],
  ])('%s: ValidationError (not BackendUnavailableError) from SQLAgent and PostgresEventLog', async (_, url) => {
    const a = new SQLAgent<{ n: number }>({ connectionString: url, id: 'a' });
    const log = new PostgresEventLog({ connectionString: url, schema: uniqueSchema('dgent_cfg') });
    try {
      for (const e of [await rejection(a.save({ n: 1 })), await rejection(log.append('s', [{ type: 'T', data: 1 }]))]) {
        expect(e).toBeInstanceOf(ValidationError);
        expect(e.message).toMatch(/does not exist/);
      }
    } finally {
      await a.close();
      await log.close();
    }
  });

  it("SQLAgent (PostgreSQL).loadAt({ time: 'yesterday' }) is a ValidationError", async () => {
    const table = uniqueName('dgent_cfg').toLowerCase();
    const a = new SQLAgent<{ n: number }>({ connectionString: postgresUrl(), id: 'a', table });
    try {
      await a.save({ n: 1 });
      expect(await rejection(a.loadAt({ time: 'yesterday' }))).toBeInstanceOf(ValidationError);
      expect(await rejection(a.loadAt({ version: 0 }))).toBeInstanceOf(ValidationError);
    } finally {
      await a.close();
      const c = new pg.Client({ connectionString: postgresUrl() });
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS "${table}"`);
      await c.end();
    }
  });
});

describe('a SerializationError in a log append says which event it was (server logs)', () => {
  it.skipIf(!redisUp)('RedisEventLog', async () => {
    const log = new RedisEventLog({ url: REDIS_URL, prefix: uniqueName('dgent_cfg') });
    try {
      await expectSerializationErrorNamesTheEvent(log);
    } finally {
      await log.close();
    }
  });

  it.skipIf(!pgUp)('PostgresEventLog', async () => {
    const schema = uniqueSchema('dgent_cfg');
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    try {
      await expectSerializationErrorNamesTheEvent(log);
    } finally {
      await log.close();
      await dropSchemas([schema]);
    }
  });
});

describe('close() twice resolves, and calls after close() are ClosedError (server backends)', () => {
  it.skipIf(!redisUp)('RedisAgent and RedisEventLog', async () => {
    const prefix = uniqueName('dgent_cfg');
    const a = new RedisAgent<{ n: number }>({ url: REDIS_URL, prefix: `${prefix}:`, key: 'k', ttlMs: 60_000 });
    await a.save({ n: 1 });
    await Promise.all([a.close(), a.close()]);
    await a.close();
    for (const p of [a.load(), a.save({ n: 2 }), a.loadAt({ version: 1 }), a.version()]) expect(await rejection(p)).toBeInstanceOf(ClosedError);
    const log = new RedisEventLog({ url: REDIS_URL, prefix });
    await log.revision('s');
    await Promise.all([log.close(), log.close()]);
    for (const p of [log.append('s', [{ type: 'T', data: 1 }]), log.revision('s')]) expect(await rejection(p)).toBeInstanceOf(ClosedError);
    const raw = new Redis(REDIS_URL);
    await raw.del(a.redisKey);
    raw.disconnect();
  });

  it.skipIf(!pgUp)('SQLAgent (PostgreSQL) and PostgresEventLog', async () => {
    const table = uniqueName('dgent_cfg').toLowerCase();
    const a = new SQLAgent<{ n: number }>({ connectionString: postgresUrl(), id: 'a', table });
    await a.save({ n: 1 });
    await Promise.all([a.close(), a.close()]);
    for (const p of [a.load(), a.save({ n: 2 })]) expect(await rejection(p)).toBeInstanceOf(ClosedError);
    const schema = uniqueSchema('dgent_cfg');
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    await log.append('s', [{ type: 'T', data: 1 }]);
    await Promise.all([log.close(), log.close()]);
    for (const p of [log.append('s', [{ type: 'T', data: 1 }]), log.revision('s')]) expect(await rejection(p)).toBeInstanceOf(ClosedError);
    await dropSchemas([schema]);
    const c = new pg.Client({ connectionString: postgresUrl() });
    await c.connect();
    await c.query(`DROP TABLE IF EXISTS "${table}"`);
    await c.end();
  });
});
