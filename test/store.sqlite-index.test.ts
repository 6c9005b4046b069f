import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventLog, SqliteViewStorage, Store } from '../src/index.js';

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dgent-store-ix-'));
  dirs.push(d);
  return d;
}

describe('Store queries on SQLite use the expression index of an indexed path', () => {
  it('the statement query() runs is planned on the kv index (EXPLAIN QUERY PLAN)', async () => {
    const path = join(tempDir(), 'ix.db');
    const log = new SqliteEventLog({ path });
    const views = new SqliteViewStorage({ path });
    const store = new Store({ log, views, viewOptions: { kv: { indexes: ['profile.age'] } }, sweepIntervalMs: 0 });
    closers.push(async () => {
      await store.close();
      await views.close();
      await log.close();
    });
    await store.setMany(Array.from({ length: 50 }, (_, i) => [`u${i}`, { profile: { age: i } }] as const));
    // observe the statements the reader prepares (the real connection; nothing is replaced)
    const db = views.db;
    const seen: string[] = [];
    const prepare = db.prepare.bind(db);
    (db as { prepare: unknown }).prepare = (sql: string) => {
      seen.push(sql);
      return prepare(sql);
    };
    expect((await store.query({ path: 'profile.age', op: 'eq', value: 7 })).map((r) => r.key)).toEqual(['u7']);
    const sql = seen.find((s) => s.includes('json_extract'));
    expect(sql).toBeDefined();
    const plan = prepare(`EXPLAIN QUERY PLAN ${sql!}`).all(...sql!.split('?').slice(1).map(() => 7)) as { detail: string }[];
    expect(plan.map((p) => p.detail).join(' | ')).toMatch(/USING INDEX "?dgent_p_kv__g\d+_kv_ix0/);
  });
});

