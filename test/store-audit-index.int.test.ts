/**
 * `audit({ key })` finds the key's own entries and the relates / unrelates naming it as their
 * object (read from the entry's metadata). Both branches must be served by an index: the object
 * branch by the partial expression index `audit_obj`, else every audit of a key reads the whole
 * audit table. The statements are the reader's own (auditWhere) on the tables the views created.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteEventLog, Store } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { auditWhere } from '../src/projections/views/audit/sqlite.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const pgUp = await requireService('PostgreSQL', postgresUrl());
const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

/** A Store with a few keys, relations between them, and audit entries naming `docs/d1` both ways. */
async function fill(store: Store): Promise<void> {
  await store.setMany(Array.from({ length: 20 }, (_, i) => [`u${i}`, { i }] as const), { namespace: 'users' });
  await store.set('d1', { title: 'x' }, { namespace: 'docs' });
  for (let i = 0; i < 5; i++) await store.relate({ namespace: 'users', key: `u${i}` }, 'wrote', { namespace: 'docs', key: 'd1' });
  await store.unrelate({ namespace: 'users', key: 'u0' }, 'wrote', { namespace: 'docs', key: 'd1' });
}

const FILTER = { namespace: 'docs', key: 'd1' } as const;

describe('audit({ key }) is served by indexes, the object branch by audit_obj', () => {
  it('SQLite: EXPLAIN QUERY PLAN of the reader statement searches audit_key and audit_obj, never scans', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-audit-ix-'));
    dirs.push(dir);
    const path = join(dir, 'a.db');
    const log = new SqliteEventLog({ path });
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      await fill(store);
      const audit = await store.audit(FILTER);
      expect(audit.filter((e) => e.operation === 'relate' || e.operation === 'unrelate').map((e) => [e.operation, e.key])).toEqual([
        ['relate', 'u0'], ['relate', 'u1'], ['relate', 'u2'], ['relate', 'u3'], ['relate', 'u4'], ['unrelate', 'u0'],
      ]);
    } finally {
      await store.close();
      await log.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      const table = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dgent_p_kv_audit__g%_audit'`).pluck().get() as string;
      for (const f of [FILTER]) { // (a filter by key alone scans, as before relations: the key index leads with the namespace)
        const { where, params } = auditWhere(f, () => '?');
        const plan = (db.prepare(`EXPLAIN QUERY PLAN SELECT * FROM "${table}" WHERE ${where} ORDER BY position`).all(...params) as { detail: string }[]).map((p) => p.detail).join(' | ');
        expect(plan).toMatch(/USING INDEX "?dgent_p_kv_audit__g\d+_audit_obj/);
        expect(plan).not.toMatch(/^SCAN|\| SCAN/);
      }
    } finally {
      db.close();
    }
  });

  it.skipIf(!pgUp)('PostgreSQL: the reader statement can be planned on audit_obj (a bitmap OR of both indexes with sequential scans off)', async () => {
    const schema = uniqueSchema('dgaix');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      await fill(store);
      expect((await store.audit(FILTER)).filter((e) => e.operation === 'relate').length).toBe(5);
    } finally {
      await store.close();
      await log.close();
    }
    const c = new pg.Client({ connectionString: postgresUrl() });
    await c.connect();
    try {
      const { rows } = await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'dgent_p_kv_audit__g%_audit'`, [schema]);
      const { where, params } = auditWhere(FILTER, (i) => `$${i}`, 'postgres');
      await c.query('SET enable_seqscan = off');
      const plan = (await c.query(`EXPLAIN SELECT * FROM "${schema}"."${rows[0].tablename}" WHERE ${where} ORDER BY position`, params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
      expect(plan).toMatch(/audit_obj/);
      expect(plan).not.toMatch(/Seq Scan/);
    } finally {
      await c.end();
    }
  });
});
