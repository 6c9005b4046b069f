import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { dataAgentContract } from '../src/testing/index.js';
import { BackendUnavailableError, ConcurrencyError } from '../src/core/errors.js';
import { POSTGRES_URL, requireService, uniqueName } from './support/services.js';

const available = await requireService('PostgreSQL', POSTGRES_URL);
const table = uniqueName('sqlagent');
let pool: pg.Pool;
let n = 0;

beforeAll(() => {
  if (available) pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 8 });
});
afterAll(async () => {
  if (!available) return;
  await pool.query(`drop table if exists ${table}`); // generated identifier, not user input
  await pool.end();
});

describe.skipIf(!available)('SQLAgent on PostgreSQL', () => {
  dataAgentContract('SQLAgent (PostgreSQL pool)', () => {
    const id = `agent-${n++}`;
    return { open: () => new SQLAgent({ db: pool, table, id }) };
  }, { reopen: true, runs: 100 });

  it('agents opened from a connectionString see each other\'s saves and detect conflicts', async () => {
    const a = new SQLAgent<number>({ connectionString: POSTGRES_URL, table, id: 'cs' });
    const b = new SQLAgent<number>({ connectionString: POSTGRES_URL, table, id: 'cs' });
    expect(await a.dialect()).toBe('postgres');
    await a.save(1, { expectedVersion: 0 });
    expect(await b.load()).toBe(1);
    const err = await b.save(2, { expectedVersion: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 0, actual: 1 });
    await a.close();
    await b.close();
  });

  it('concurrent saves racing for the same expectedVersion: exactly one wins, the rest get ConcurrencyError', async () => {
    const agents = Array.from({ length: 6 }, () => new SQLAgent<number>({ connectionString: POSTGRES_URL, table, id: 'race' }));
    await agents[0]!.save(0);
    const results = await Promise.allSettled(agents.map((a, i) => a.save(i + 1, { expectedVersion: 1 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
    expect(await agents[0]!.version()).toBe(2);
    await Promise.all(agents.map((a) => a.close()));
  });

  it('table creation from many agents starting at once on a new table succeeds', async () => {
    const fresh = uniqueName('sqlagent_new');
    try {
      const agents = Array.from({ length: 6 }, (_, i) => new SQLAgent<number>({ connectionString: POSTGRES_URL, table: fresh, id: `s${i}` }));
      await Promise.all(agents.map((a, i) => a.save(i)));
      expect(await Promise.all(agents.map((a) => a.load()))).toEqual([0, 1, 2, 3, 4, 5]);
      await Promise.all(agents.map((a) => a.close()));
    } finally {
      await pool.query(`drop table if exists ${fresh}`);
    }
  });

  it('an unreachable server gives BackendUnavailableError', async () => {
    const a = new SQLAgent({ connectionString: 'postgres://postgres@127.0.0.1:1/test', id: 'x' });
    await expect(a.load()).rejects.toBeInstanceOf(BackendUnavailableError);
    await a.close();
  });
});
