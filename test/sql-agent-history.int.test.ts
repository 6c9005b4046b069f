/**
 * SQLAgent history queries on PostgreSQL (a real server, a table per run): the shared cases, and
 * proof that the filters run in PostgreSQL: the statement sent returns only the matching rows, and
 * EXPLAIN shows the jsonb filter in the plan, applied to the agent's rows from the primary key.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { SQLAgent } from '../src/index.js';
import { selectHistorySql } from '../src/agents/sql/history-query.js';
import { POSTGRES_URL, requireService, uniqueName } from './support/services.js';
import { sqlHistoryCases } from './sql-agent-history-cases.js';

const available = await requireService('PostgreSQL', POSTGRES_URL);
const table = uniqueName('h12hist');
let pool: pg.Pool;

beforeAll(() => {
  if (available) pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
});
afterAll(async () => {
  if (!available) return;
  await pool.query(`drop table if exists ${table}`); // generated identifier
  await pool.end();
});

/** A real pg pool whose clients record each statement text and the number of rows it returned. */
function recordingPool(): { pool: pg.Pool; seen: { sql: string; rows: number }[] } {
  const p = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
  const seen: { sql: string; rows: number }[] = [];
  const spied = new WeakSet<object>();
  const connect = p.connect.bind(p) as () => Promise<pg.PoolClient>;
  (p as { connect: unknown }).connect = async () => {
    const c = await connect();
    if (!spied.has(c)) {
      spied.add(c);
      const query = c.query.bind(c) as (...a: unknown[]) => Promise<pg.QueryResult>;
      (c as { query: unknown }).query = async (...a: unknown[]) => {
        const r = await query(...a);
        const text = typeof a[0] === 'string' ? a[0] : (a[0] as { text?: string }).text ?? '';
        seen.push({ sql: text, rows: r.rows.length });
        return r;
      };
    }
    return c;
  };
  return { pool: p, seen };
}

describe.skipIf(!available)('SQLAgent history queries (PostgreSQL)', () => {
  sqlHistoryCases(
    {
      open: (id, o = {}) => new SQLAgent({ db: pool, table, id, ...o }),
      corrupt: async (id) => {
        await pool.query(`update ${table} set state = '{"torn' where agent_id = $1 and version = (select max(version) from ${table} where agent_id = $1)`, [id]);
      },
    },
    100,
  );

  it('the filters and the window run in PostgreSQL: only matching rows leave the server, and the plan filters on jsonb', async () => {
    const { pool: p, seen } = recordingPool();
    // preparedStatements: false: every statement goes through a client of pool.connect(), where it is recorded
    const a = new SQLAgent<{ step: number; status: string; at: Date }>({ db: p, table, id: 'pushdown', preparedStatements: false });
    for (let i = 1; i <= 40; i++) await a.save({ step: i, status: i % 10 === 0 ? 'error' : 'ok', at: new Date(i) });
    seen.length = 0;
    expect((await a.queryHistory({ path: 'status', op: 'eq', value: 'error' })).map((s) => s.step)).toStrictEqual([40, 30, 20, 10]);
    const q = seen.filter((s) => s.sql.includes(`value_jsonb #> '{status}'`));
    expect(q).toHaveLength(1);
    expect(q[0]!.rows).toBe(4); // not 40: PostgreSQL filtered

    seen.length = 0;
    expect(await a.countHistory({ path: 'step', op: 'gt', value: 35 })).toBe(5);
    const c = seen.filter((s) => s.sql.includes(`value_jsonb #> '{step}'`));
    expect(c).toHaveLength(1);
    expect(c[0]!.rows).toBe(1); // one count row, no state judged in process

    const { sql, params } = selectHistorySql({ dialect: 'postgres', table, id: 'pushdown', retention: 1000, schemaVersion: 0, filters: [{ path: 'status', op: 'eq', value: 'error' }] });
    const plan = (await pool.query(`EXPLAIN (VERBOSE, COSTS OFF) ${sql}`, params)).rows.map((r) => String(r['QUERY PLAN'])).join('\n');
    expect(plan).toMatch(/Filter: .*#> '\{status\}'/);
    expect(plan).toContain(`${table}_pk`); // the agent's rows come from the primary key (agent_id, version)
    await a.close();
    await p.end();
  });

  it('history({ since, until, limit }) on SQLAgent selects in SQL: one statement returning only the window', async () => {
    const { pool: p, seen } = recordingPool();
    const a = new SQLAgent<number>({ db: p, table, id: 'window', preparedStatements: false }); // see above
    for (let i = 1; i <= 30; i++) await a.save(i);
    seen.length = 0;
    expect(await a.history({ since: 0, limit: 3 })).toStrictEqual([30, 29, 28]);
    expect(seen.filter((s) => s.sql.includes('time >= $'))).toStrictEqual([expect.objectContaining({ rows: 3 })]);
    await a.close();
    await p.end();
  });
});
