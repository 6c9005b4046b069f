/**
 * The hot path of `get`: one key's live value, reading only the `value` column of the KV view
 * with a statement prepared once per view table (SQLite: a cached better-sqlite3 statement;
 * PostgreSQL, on views the Store opened on the log's pool: a named statement, so the server plans
 * it once per connection). Other storages use the view reader. The rows and their meaning are the
 * KV view's (src/projections/views/kv); an expired key reads as absent, as everywhere.
 */
import { createHash } from 'node:crypto';
import { decode } from '../core/codec.js';
import type { SqliteDatabase } from '../streams/sqlite/connection.js';
import { stmt } from '../projections/views/sql-statements.js';
import type { ViewReaders } from '../projections/views/index.js';
import type { ViewStorage } from '../projections/view-storage.js';

/** `found` false when the key is absent or expired. */
export type ValueOf = (namespace: string, key: string, now: number) => Promise<{ found: boolean; value: unknown }>;

const ABSENT = Object.freeze({ found: false, value: undefined });

interface SqliteLike {
  db: SqliteDatabase;
  table(projection: string, local: string): Promise<string | undefined>;
}

interface PgPool {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: { value: string }[] }>;
}

/** The value reader of a storage. `pgPool`: the pool of views the Store opened itself (named statements are safe there). */
export function valueReader(storage: ViewStorage, readers: ViewReaders, pgPool?: PgPool, mapError?: (e: unknown) => unknown): ValueOf {
  if (storage.kind === 'sqlite') {
    const s = storage as unknown as SqliteLike;
    let last: { table: string; get(...params: unknown[]): unknown } | undefined; // the active table's statement
    return async (namespace, key, now) => {
      const t = await s.table('kv', 'kv');
      if (t === undefined) return ABSENT;
      if (last?.table !== t) {
        const st = stmt(s.db, `SELECT value FROM ${t} WHERE namespace = ? AND key = ? AND (expires_at IS NULL OR expires_at > ?)`);
        last = { table: t, get: (...p) => st.get(...p) };
      }
      const row = last.get(namespace, key, now) as { value: string } | undefined;
      return row ? { found: true, value: decode(row.value) } : ABSENT;
    };
  }
  if (storage.kind === 'postgres' && pgPool) {
    const s = storage as unknown as { table(projection: string, local: string): Promise<string | undefined> };
    // statement names are per connection: named by a hash of the text, so Stores sharing a pool never clash
    const statements = new Map<string, { name: string; text: string }>();
    return async (namespace, key, now) => {
      const t = await s.table('kv', 'kv');
      if (t === undefined) return ABSENT;
      let q = statements.get(t);
      if (q === undefined) {
        const text = `SELECT value FROM ${t} WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`;
        statements.set(t, (q = { name: `dgent_sg_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text }));
      }
      let rows;
      try {
        ({ rows } = await pgPool.query({ ...q, values: [namespace, key, now] }));
      } catch (e) {
        throw mapError ? mapError(e) : e;
      }
      return rows.length > 0 ? { found: true, value: decode(rows[0]!.value) } : ABSENT;
    };
  }
  return async (namespace, key, now) => {
    const e = await readers.kv.get(namespace, key, { now });
    return e ? { found: true, value: e.value } : ABSENT;
  };
}
