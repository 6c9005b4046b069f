/**
 * SQLAgent history queries on SQLite (real files): the shared cases (property against the
 * in-process evaluation, migrations, damage, bad input), and proof that the filters run in SQLite:
 * the statements sent carry `json_extract` on the filtered path and return only the matching rows.
 */
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQLAgent } from '../src/index.js';
import { sqlHistoryCases } from './sql-agent-history-cases.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-sql-history-'));
const file = join(dir, 'agents.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real better-sqlite3 database that records each statement read through it and the rows it returned. */
function recordingDatabase(path: string): { db: Database.Database; seen: { sql: string; rows: number }[] } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 10000');
  const seen: { sql: string; rows: number }[] = [];
  const prepare = db.prepare.bind(db) as (sql: string) => Database.Statement;
  (db as { prepare: unknown }).prepare = (sql: string) => {
    const st = prepare(sql);
    const all = st.all.bind(st) as (...a: unknown[]) => unknown[];
    (st as { all: unknown }).all = (...a: unknown[]) => {
      const rows = all(...a);
      seen.push({ sql, rows: rows.length });
      return rows;
    };
    return st;
  };
  return { db, seen };
}

describe('SQLAgent history queries (SQLite)', () => {
  sqlHistoryCases(
    {
      open: (id, o = {}) => new SQLAgent({ path: file, id, ...o }),
      corrupt: async (id) => {
        const db = new Database(file);
        db.prepare(`update dgent_agent_states set state = '{"torn' where agent_id = ? and version = (select max(version) from dgent_agent_states where agent_id = ?)`).run(id, id);
        db.close();
      },
    },
    100,
  );

  it('the filters and the window run in SQLite: json_extract on the path, only matching rows leave the database', async () => {
    const { db, seen } = recordingDatabase(join(dir, 'pushdown.db'));
    const a = new SQLAgent<{ step: number; status: string; at: Date }>({ db, id: 'run' });
    for (let i = 1; i <= 40; i++) await a.save({ step: i, status: i % 10 === 0 ? 'error' : 'ok', at: new Date(i) });
    seen.length = 0;
    const errors = await a.queryHistory({ path: 'status', op: 'eq', value: 'error' });
    expect(errors.map((s) => s.step)).toStrictEqual([40, 30, 20, 10]);
    const q = seen.filter((s) => s.sql.includes(`json_extract(kv.value, '$.status')`));
    expect(q).toHaveLength(1);
    expect(q[0]!.rows).toBe(4); // not 40: SQLite filtered

    seen.length = 0;
    expect(await a.countHistory({ path: 'step', op: 'gt', value: 35 })).toBe(5);
    const c = seen.filter((s) => s.sql.includes(`json_extract(kv.value, '$.step')`));
    expect(c).toHaveLength(1);
    expect(c[0]!.rows).toBe(1); // one count row, no state judged in process

    seen.length = 0;
    expect((await a.queryHistory({ path: 'step', op: 'lte', value: 30 }, { limit: 2 })).map((s) => s.step)).toStrictEqual([30, 29]);
    expect(seen.find((s) => s.sql.includes('LIMIT'))?.rows).toBe(2);
    await a.close();
    db.close();
  });

  it('history({ since, until, limit }) on SQLAgent selects in SQL: one statement returning only the window', async () => {
    const { db, seen } = recordingDatabase(join(dir, 'window.db'));
    const a = new SQLAgent<number>({ db, id: 'w' });
    for (let i = 1; i <= 30; i++) await a.save(i);
    const all = await a.history();
    expect(all).toHaveLength(30);
    seen.length = 0;
    expect(await a.history({ since: 0, limit: 3 })).toStrictEqual([30, 29, 28]);
    expect(seen.filter((s) => s.sql.includes('time >= ?'))).toStrictEqual([expect.objectContaining({ rows: 3 })]);
    await a.close();
    db.close();
  });
});
