/**
 * history({ since, until, limit }) on the versioned agents of the network backends: RedisAgent,
 * SQLAgent on PostgreSQL and StreamAgent over a PostgresEventLog, against a model of the saved
 * states and the times each backend stored (Redis's and PostgreSQL's own clocks for two of them,
 * read back from storage). fast-check chooses windows on, between and around those times.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import pg from 'pg';
import { SQLAgent, StreamAgent, ValidationError, type DataAgent, type HistoryOptions, type Versioned } from '../src/index.js';
import { RedisAgent } from '../src/redis.js';
import { PostgresEventLog } from '../src/postgres.js';
import { POSTGRES_URL, REDIS_URL, requireService, uniqueName } from './support/services.js';
import { dropSchemas, uniqueSchema } from './support/postgres.js';

const pgUp = await requireService('PostgreSQL', POSTGRES_URL);
const redisUp = await requireService('Redis', REDIS_URL);

type Agent = DataAgent<{ i: number }> & Versioned<{ i: number }>;
interface Opened {
  agent: Agent;
  /** stored times (epoch ms), oldest first, as the backend recorded them */
  times(): Promise<number[]>;
  close(): Promise<void>;
}

const table = uniqueName('h12win');
const schema = uniqueSchema('h12win');
const prefix = `${uniqueName('h12win')}:`;
let seq = 0;
let pool: pg.Pool | undefined;
let redis: Redis | undefined;

afterAll(async () => {
  if (pool) {
    await pool.query(`drop table if exists ${table}`); // generated identifier
    await pool.end();
    await dropSchemas([schema]);
  }
  if (redis) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
});

const kinds: { name: string; up: boolean; open(): Promise<Opened> }[] = [
  {
    name: 'RedisAgent',
    up: redisUp,
    async open() {
      redis ??= new Redis(REDIS_URL);
      const key = `a${seq++}`;
      const agent = new RedisAgent<{ i: number }>({ redis, key, prefix, publish: false });
      return {
        agent,
        times: async () => {
          const raw = await redis!.lrange(`${prefix}{${key}}`, 0, -1); // newest first: header, state, header, state ...
          const out: number[] = [];
          for (let i = 0; i < raw.length; i += 2) out.unshift(Number(raw[i]!.split(':')[1]));
          return out;
        },
        close: () => agent.close(),
      };
    },
  },
  {
    name: 'SQLAgent (PostgreSQL)',
    up: pgUp,
    async open() {
      pool ??= new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
      const id = `a${seq++}`;
      const agent = new SQLAgent<{ i: number }>({ db: pool, table, id });
      return {
        agent,
        times: async () => (await pool!.query(`select time from ${table} where agent_id = $1 order by version`, [id])).rows.map((r) => Number(r.time)),
        close: () => agent.close(),
      };
    },
  },
  {
    name: 'StreamAgent (PostgresEventLog)',
    up: pgUp,
    async open() {
      const log = new PostgresEventLog({ connectionString: POSTGRES_URL, schema });
      const stream = `a${seq++}`;
      const agent = new StreamAgent<never, { i: number }>({ log, stream });
      return {
        agent,
        times: async () => {
          const out: number[] = [];
          for await (const e of log.read(stream)) out.push(e.time.getTime());
          return out;
        },
        close: async () => {
          await agent.close();
          await log.close();
        },
      };
    },
  },
];

function expected(states: number[], times: number[], o: { since?: number | undefined; until?: number | undefined; limit?: number | undefined }): { i: number }[] {
  const out: { i: number }[] = [];
  for (let v = states.length - 1; v >= 0; v--) {
    const t = times[v]!;
    if ((o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until)) out.push({ i: states[v]! });
  }
  return out.slice(0, o.limit);
}

const bound = fc.option(fc.record({ at: fc.nat(), delta: fc.integer({ min: -1, max: 1 }), iso: fc.boolean() }), { nil: undefined });

for (const kind of kinds) {
  describe.skipIf(!kind.up)(`history window: ${kind.name}`, () => {
    it('history({ since, until, limit }) equals the model of saved states and stored times (fast-check, 20 runs)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 8 }), bound, bound, fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }), async (pauses, since, until, limit) => {
          const { agent, times, close } = await kind.open();
          try {
            const states: number[] = [];
            for (const [i, pause] of pauses.entries()) {
              if (pause > 0) await new Promise((r) => setTimeout(r, pause)); // spreads the stored times; nothing is measured
              await agent.save({ i });
              states.push(i);
            }
            const stored = await times();
            expect(stored).toHaveLength(states.length);
            const ms = (b: typeof since) => (b === undefined ? undefined : stored[b.at % stored.length]! + b.delta);
            const form = (b: NonNullable<typeof since>) => (b.iso ? new Date(ms(b)!).toISOString() : ms(b)!);
            const o: HistoryOptions = {};
            if (since) o.since = form(since);
            if (until) o.until = form(until);
            if (limit !== undefined) o.limit = limit;
            expect(await agent.history(o)).toStrictEqual(expected(states, stored, { since: ms(since), until: ms(until), limit }));
            expect(await agent.history(1)).toStrictEqual(expected(states, stored, { limit: 1 }));
          } finally {
            await close();
          }
        }),
        { numRuns: 20 },
      );
    }, 180_000);

    it('a bad window is ValidationError and asks nothing of the backend', async () => {
      const { agent, close } = await kind.open();
      try {
        await agent.save({ i: 0 });
        for (const b of [{ since: 'soon' }, { until: Number.NaN }, { limit: -2 }, { sinse: 0 }]) {
          await expect(agent.history(b as HistoryOptions)).rejects.toBeInstanceOf(ValidationError);
        }
        expect(await agent.history({ since: 0 })).toStrictEqual([{ i: 0 }]);
      } finally {
        await close();
      }
    });
  });
}
