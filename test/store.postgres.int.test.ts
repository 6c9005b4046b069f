/**
 * The Store on a PostgreSQL log with its default views (inline, in the log's schema): the views
 * are inline, values are also queryable as jsonb from SQL, and purge erases a key's values from
 * the log's events table and from every view.
 */
import { afterAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { Store } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const available = await requireService('PostgreSQL', postgresUrl());
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe.skipIf(!available)('Store on PostgreSQL (default views)', () => {
  it('query() on an indexed path is planned on the jsonb expression index', async () => {
    const schema = uniqueSchema('dgstoreix');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, viewOptions: { kv: { indexes: ['profile.age'] } }, sweepIntervalMs: 0 });
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    try {
      await store.setMany(Array.from({ length: 200 }, (_, i) => [`u${i}`, { profile: { age: i } }] as const));
      // observe the statement the reader sends (the real pool; nothing is replaced)
      const views = store.views as unknown as { query(text: string, values?: unknown[]): Promise<unknown> };
      const seen: [string, unknown[] | undefined][] = [];
      const query = views.query.bind(views);
      views.query = (text, values) => {
        seen.push([text, values]);
        return query(text, values);
      };
      expect((await store.query({ path: 'profile.age', op: 'eq', value: 7 })).map((r) => r.key)).toEqual(['u7']);
      const [text, values] = seen.find(([t]) => t.includes('value_jsonb'))!;
      await client.query(`ANALYZE ${schema}."${(await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'dgent_p_kv__g%_kv'`, [schema])).rows[0].tablename}"`);
      await client.query('SET enable_seqscan = off'); // 200 rows: a sequential scan would win; is the index usable at all?
      const plan = (await client.query(`EXPLAIN ${text}`, values)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toMatch(/dgent_p_kv__g\d+_kv_ix0/);
    } finally {
      await client.end();
      await store.close();
      await log.close();
    }
  }, 60_000);

  it('runs its views inline in the log schema, and purge leaves no value in the events table or the views', async () => {
    const schema = uniqueSchema('dgstorepg');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, sweepIntervalMs: 0 });
    const client = new pg.Client({ connectionString: postgresUrl() });
    await client.connect();
    try {
      await store.set('pii', { email: 'secret@example.com', age: 40 }, { actor: 'u1' });
      await store.update<{ age: number }>('pii', (d) => void (d!.age = 41));
      await store.set('keep', { email: 'public@example.com', age: 7 });
      const status = await store.status();
      expect(status.mode).toBe('inline');
      expect(status.views.map((v) => [v.name, v.mode, v.state])).toEqual([['kv', 'inline', 'running'], ['kv_versions', 'inline', 'running'], ['kv_audit', 'inline', 'running'], ['kv_relations', 'inline', 'running']]);
      // the KV view keeps values as jsonb: users can query them from SQL
      const t = (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'dgent_p_kv__g%_kv'`, [schema])).rows[0].tablename;
      const { rows } = await client.query(`SELECT key FROM ${schema}."${t}" WHERE (value_jsonb ->> 'age')::int > 10`);
      expect(rows.map((r) => r.key)).toEqual(['pii']);
      await store.purge('pii', { actor: 'dpo' });
      const dump = async () => {
        const texts: string[] = [];
        for (const table of (await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [schema])).rows) {
          const r = await client.query(`SELECT * FROM ${schema}."${table.tablename}"`);
          texts.push(JSON.stringify(r.rows));
        }
        return texts.join('\n');
      };
      const all = await dump();
      expect(all).not.toContain('secret@example.com');
      expect(all).toContain('public@example.com');
      expect(await store.get('pii')).toBeUndefined();
      expect(await store.versions('pii')).toEqual([]);
      expect((await store.audit({ key: 'pii' })).map((a) => [a.operation, a.actor])).toEqual([['purge', 'dpo']]);
      await store.rebuildViews();
      expect(await dump()).not.toContain('secret@example.com');
      expect(await store.get('keep')).toEqual({ email: 'public@example.com', age: 7 });
    } finally {
      await client.end();
      await store.close();
      await log.close();
    }
  }, 60_000);
});
