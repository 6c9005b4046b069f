/**
 * The hot path of `get`: one key's live value, reading only the `value` column of the KV view
 * with a statement prepared once per view table (SQLite: a cached better-sqlite3 statement;
 * PostgreSQL, on views the Store opened on the log's pool: a named statement, so the server plans
 * it once per connection). Other storages use the view reader. The rows and their meaning are the
 * KV view's (src/projections/views/kv); an expired key reads as absent, as everywhere.
 */
import { statementName } from '../streams/postgres/statement-names.js';
import { decode } from '../core/codec.js';
import type { SqliteDatabase } from '../streams/sqlite/connection.js';
import { rawStmt } from '../projections/views/sql-statements.js';
import type { ViewReaders } from '../projections/views/index.js';
import { generationTableName, type ViewStorage } from '../projections/view-storage.js';

/** The live value of a key; undefined when the key is absent or expired. */
export type ValueOf = (namespace: string, key: string, now: number) => Promise<unknown>;

interface SqliteLike {
  db: SqliteDatabase;
  active(projection: string): Promise<{ generation: number } | undefined>;
  cachedActive(projection: string): { value: { generation: number } | undefined } | undefined;
}

interface PgPool {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: { value: string }[] }>;
}

/** The value reader of a storage. `pgPool`: the pool of views the Store opened itself (named statements are safe there). */
export function valueReader(storage: ViewStorage, readers: ViewReaders, pgPool?: PgPool, mapError?: (e: unknown) => unknown): ValueOf {
  if (storage.kind === 'sqlite') {
    const s = storage as unknown as SqliteLike;
    let last: { generation: number; get(namespace: string, key: string): unknown } | undefined; // the active table's statement
    const read = (generation: number | undefined, namespace: string, key: string, now: number): unknown => {
      if (generation === undefined) return undefined;
      if (last?.generation !== generation) {
        // rows as arrays (no object per row) and the expiry judged here: one lookup by the primary key
        const raw = rawStmt(s.db, `SELECT value, expires_at FROM "${generationTableName('kv', generation, 'kv')}" WHERE namespace = ? AND key = ?`);
        last = { generation, get: (ns, k) => raw.get(ns, k) };
      }
      const row = last.get(namespace, key) as [string, number | null] | undefined;
      return row === undefined || (row[1] !== null && row[1] <= now) ? undefined : decode(row[0]);
    };
    return (namespace, key, now) => {
      // the active generation from the storage's cache, without awaiting (one promise per get)
      const hit = s.cachedActive('kv');
      if (hit === undefined) return s.active('kv').then((a) => read(a?.generation, namespace, key, now));
      try {
        return Promise.resolve(read(hit.value?.generation, namespace, key, now));
      } catch (e) {
        return Promise.reject(e);
      }
    };
  }
  if (storage.kind === 'postgres' && pgPool) {
    const s = storage as unknown as { schema: string } & Pick<SqliteLike, 'active' | 'cachedActive'>;
    // statement names are per connection: named by a hash of the text, so Stores sharing a pool never clash
    let last: { generation: number; name: string; text: string } | undefined;
    const fail = (e: unknown): never => {
      throw mapError ? mapError(e) : e;
    };
    const read = (generation: number | undefined, namespace: string, key: string, now: number): Promise<unknown> => {
      if (generation === undefined) return Promise.resolve(undefined);
      if (last?.generation !== generation) {
        const text = `SELECT value FROM "${s.schema}"."${generationTableName('kv', generation, 'kv')}" WHERE namespace = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)`;
        last = { generation, name: statementName('dgent_sg', text), text };
      }
      return pgPool.query({ name: last.name, text: last.text, values: [namespace, key, now] }).then(({ rows }) => (rows.length > 0 ? decode(rows[0]!.value) : undefined), fail);
    };
    return (namespace, key, now) => {
      // the active generation from the storage's cache, without an extra await
      const hit = s.cachedActive('kv');
      return hit === undefined ? s.active('kv').then((a) => read(a?.generation, namespace, key, now)) : read(hit.value?.generation, namespace, key, now);
    };
  }
  return async (namespace, key, now) => {
    const e = await readers.kv.get(namespace, key, { now });
    return e?.value;
  };
}
