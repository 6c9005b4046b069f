import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { dataAgentContract } from '../src/testing/index.js';
import { BackendUnavailableError, ConcurrencyError, CorruptionError, ValidationError } from '../src/core/errors.js';
import { sleep } from '../src/core/mutex.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { POSTGRES_URL, requireService, uniqueName } from './support/services.js';

const available = await requireService('PostgreSQL', POSTGRES_URL);

/** A pg pool that records the name of every named (prepared) statement sent through pool.query. */
function namedStatementPool(max: number): { pool: pg.Pool; names: string[] } {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max });
  const names: string[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (config: unknown, ...rest: unknown[]) => {
    const name = (config as { name?: unknown } | null)?.name;
    if (typeof name === 'string') names.push(name);
    return query(config, ...rest);
  };
  return { pool, names };
}
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
  dataAgentContract('SQLAgent (PostgreSQL pool)', async () => {
    const id = `agent-${n++}`;
    // each place reaches the server through its own proxy, so makeUnavailable() cuts only its agents
    const proxy = await startTcpProxy(POSTGRES_URL);
    const through = new pg.Pool({ connectionString: proxy.url(POSTGRES_URL), max: 4 });
    through.on('error', () => undefined); // idle clients cut by the proxy
    return {
      open: () => new SQLAgent({ db: through, table, id }),
      openTyped: (typing) => new SQLAgent({ db: through, table, id, ...typing }),
      corrupt: async () => {
        await pool.query(`update ${table} set state = $1 where agent_id = $2 and version = (select max(version) from ${table} where agent_id = $2)`, ['{"torn', id]);
      },
      makeUnavailable: () => proxy.cut(),
      restore: () => proxy.restore(),
      cleanup: async () => {
        await through.end();
        await proxy.close();
      },
    };
  }, { reopen: true, runs: 100, requires: ['update', 'versioned', 'subscribe', 'close'] });

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

  it('on a pg pool, save and load run as named prepared statements; through a Kysely instance they run as Kysely sends them, with the same results', async () => {
    const { pool: counted, names } = namedStatementPool(2);
    const id = uniqueName('prepared');
    const viaPool = new SQLAgent<{ n: number }>({ db: counted, table, id });
    const viaKysely = new SQLAgent<{ n: number }>({ db: new Kysely<any>({ dialect: new PostgresDialect({ pool }) }), table, id });
    try {
      await viaPool.save({ n: 1 });
      await viaPool.save({ n: 2 }, { expectedVersion: 1 });
      expect(await viaPool.load()).toEqual({ n: 2 });
      expect(new Set(names).size).toBe(3); // insert (any), insert (exact), select current
      for (const n of names) expect(n).toMatch(/^dgent_sa_[A-Za-z0-9_-]{20}$/);
      await expect(viaPool.save({ n: 9 }, { expectedVersion: 1 })).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await viaKysely.load()).toEqual({ n: 2 });
      await viaKysely.save({ n: 3 }, { expectedVersion: 2 });
      await expect(viaKysely.save({ n: 9 }, { expectedVersion: 2 })).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await viaPool.load()).toEqual({ n: 3 });
      expect(await viaPool.history()).toEqual([{ n: 3 }, { n: 2 }, { n: 1 }]);
    } finally {
      await viaPool.close();
      await viaKysely.close();
      await counted.end();
    }
  });

  it('named statements that stop working on a pool (DEALLOCATE ALL by other code, as a pooler in transaction mode would) fall back to unprepared ones, with the same results; preparedStatements: false never prepares', async () => {
    const single = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
    const { pool: unnamed, names } = namedStatementPool(1);
    const id = uniqueName('dealloc');
    const a = new SQLAgent<{ n: number }>({ db: single, table, id });
    const b = new SQLAgent<{ n: number }>({ db: unnamed, table, id, preparedStatements: false });
    try {
      await a.save({ n: 1 });
      expect(await a.load()).toEqual({ n: 1 });
      await single.query('DEALLOCATE ALL'); // the one connection forgets its statements; pg does not know
      await a.save({ n: 2 });
      expect(await a.load()).toEqual({ n: 2 });
      await a.save({ n: 3 }, { expectedVersion: 2 });
      await expect(a.save({ n: 9 }, { expectedVersion: 2 })).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await a.history()).toEqual([{ n: 3 }, { n: 2 }, { n: 1 }]);
      await b.save({ n: 4 }, { expectedVersion: 3 });
      expect(await b.load()).toEqual({ n: 4 });
      expect(names).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await single.end();
      await unnamed.end();
    }
  });

  it('a read-only server (a replica, a demoted primary) gives BackendUnavailableError on save, so fallback() can fail over; loads still work', async () => {
    const id = uniqueName('readonly');
    const writer = new SQLAgent<{ n: number }>({ db: pool, table, id });
    await writer.save({ n: 1 });
    await writer.close();
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c default_transaction_read_only=on')}`;
    const ro = new SQLAgent<{ n: number }>({ connectionString: url, table, id });
    try {
      expect(await ro.load()).toEqual({ n: 1 });
      await expect(ro.save({ n: 2 })).rejects.toBeInstanceOf(BackendUnavailableError);
      expect(await ro.version()).toBe(1);
    } finally {
      await ro.close();
    }
  });

  it('pool options are checked up front', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => new SQLAgent({ connectionString: POSTGRES_URL, id: 'x', statementTimeoutMs: bad })).toThrow(ValidationError);
      expect(() => new SQLAgent({ connectionString: POSTGRES_URL, id: 'x', connectTimeoutMs: bad })).toThrow(ValidationError);
      expect(() => new SQLAgent({ connectionString: POSTGRES_URL, id: 'x', maxConnections: bad })).toThrow(ValidationError);
    }
    expect(() => new SQLAgent({ connectionString: POSTGRES_URL, id: 'x', statementTimeoutMs: 2 ** 31 - 1 })).toThrow(ValidationError); // no room for the read timeout
    expect(() => new SQLAgent({ connectionString: POSTGRES_URL, id: 'x', connectTimeoutMs: 2 ** 31 })).toThrow(ValidationError);
    expect(() => new SQLAgent({ db: pool, id: 'x', statementTimeoutMs: 1_000 })).toThrow(ValidationError); // a pool of yours keeps its settings
  });

  it('a server restart (every connection of the agent terminated, idle or busy) does not crash the process: calls in flight fail with BackendUnavailableError, later ones work', async () => {
    const app = uniqueName('sqlrestart');
    const url = `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}application_name=${app}`;
    const a = new SQLAgent<{ n: number }>({ connectionString: url, table, id: uniqueName('restart'), maxConnections: 4 });
    try {
      await a.save({ n: 1 });
      const terminate = async (): Promise<number> =>
        (await pool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app])).rowCount ?? 0;
      // idle connections: the pool hears of it as an 'error' event (fatal to the process without a listener)
      expect(await terminate()).toBeGreaterThanOrEqual(1);
      await sleep(200);
      expect(await a.load()).toEqual({ n: 1 });
      // busy connections: a burst of saves and loads while they are terminated
      const inflight = Array.from({ length: 40 }, (_, i) => (i % 2 ? a.load() : a.update((s) => ({ n: s.n + 1 }))).then(() => 'ok', (e: unknown) => e));
      await sleep(5);
      await terminate();
      for (const r of await Promise.all(inflight)) if (r !== 'ok') expect(r).toBeInstanceOf(BackendUnavailableError);
      await a.update((s) => ({ n: s.n + 1 }));
      expect((await a.load()).n).toBe((await a.version()));
    } finally {
      await a.close();
    }
  });

  it('a connection cut mid-operation gives BackendUnavailableError, and the agent works again once restored', async () => {
    const proxy = await startTcpProxy(POSTGRES_URL);
    const a = new SQLAgent<{ n: number }>({ connectionString: proxy.url(POSTGRES_URL), table, id: uniqueName('cut'), connectTimeoutMs: 1_000 });
    try {
      await a.save({ n: 1 });
      const inflight = Array.from({ length: 20 }, (_, i) => (i % 2 ? a.load() : a.save({ n: i })).then(() => 'ok', (e: unknown) => e));
      proxy.cut();
      const results = await Promise.all(inflight);
      for (const r of results) if (r !== 'ok') expect(r).toBeInstanceOf(BackendUnavailableError);
      await expect(a.load()).rejects.toBeInstanceOf(BackendUnavailableError); // refused while cut
      proxy.restore();
      await a.save({ n: 100 });
      expect(await a.load()).toEqual({ n: 100 });
    } finally {
      await a.close();
      await proxy.close();
    }
  });

  it('a server that stops answering (black hole): a call fails with BackendUnavailableError after statementTimeoutMs + 5 s, and the agent works again once restored', async () => {
    const proxy = await startTcpProxy(POSTGRES_URL);
    const a = new SQLAgent<{ n: number }>({ connectionString: proxy.url(POSTGRES_URL), table, id: uniqueName('hole'), connectTimeoutMs: 1_000, statementTimeoutMs: 300 });
    try {
      await a.save({ n: 1 });
      proxy.blackhole();
      const t0 = Date.now();
      const error = await a.load().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect((error as Error).message).toMatch(/did not answer within 5300 ms/); // ended by the read timeout, not by the socket
      expect(Date.now() - t0).toBeGreaterThanOrEqual(5_000); // and not before it
      proxy.restore();
      await a.save({ n: 2 });
      expect(await a.load()).toEqual({ n: 2 });
    } finally {
      await a.close();
      await proxy.close();
    }
  });

  it('a table of the same name but another shape gives CorruptionError on load and save, and its rows are untouched', async () => {
    const foreign = uniqueName('foreign');
    await pool.query(`create table ${foreign} (a integer, b text)`); // generated identifier, not user input
    await pool.query(`insert into ${foreign} values (1, 'theirs')`);
    try {
      const a = new SQLAgent({ connectionString: POSTGRES_URL, table: foreign, id: 'x' });
      await expect(a.load()).rejects.toBeInstanceOf(CorruptionError);
      await expect(a.save({ n: 1 })).rejects.toThrow(/not a dgent agent table/);
      await a.close();
      expect((await pool.query(`select a, b from ${foreign}`)).rows).toEqual([{ a: 1, b: 'theirs' }]);
    } finally {
      await pool.query(`drop table ${foreign}`);
    }
  });

  it('an unreachable server gives BackendUnavailableError', async () => {
    const a = new SQLAgent({ connectionString: 'postgres://postgres@127.0.0.1:1/test', id: 'x' });
    await expect(a.load()).rejects.toBeInstanceOf(BackendUnavailableError);
    await a.close();
  });
});
