/**
 * The KV view in SQLite: table `kv` (one row per live key; value as codec text, so it round-trips
 * exactly and `json_extract` can query it) and table `ns` (namespaces). Statements are prepared
 * once per connection; identifiers come from the view context, values are bound.
 */
import { decode, encode } from '../../../core/codec.js';
import { encodeValue } from '../encoded.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { SqliteViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { validateFilters, validateQueryOptions, type QueryOptions, type ValueFilter } from '../filter.js';
import { prefixEnd } from '../keys.js';
import { canPlanBlind, kvBatch, planKv, touchedKeys } from '../plan.js';
import type { KvEntry, NamespaceEntry } from '../rows.js';
import { rawStmt, stmt, textsOf, type SqliteTables } from '../sql-statements.js';
import type { KvReader, ListOptions, QueryRow, ReadOptions } from '../types.js';
import { jsonPath, orderBy, whereFilters } from './sqlite-query.js';

const COLUMNS = 'namespace, key, value, version, metadata, created_at, updated_at, expires_at, position';

/**
 * Create the KV tables of a generation; `indexes`: value paths to index for queries. (WITHOUT ROWID
 * was measured: 10.8 instead of 11.3 WAL pages per inline append, no CPU difference, and the value
 * expression indexes' plans change; not worth it.)
 */
export function setupKvSqlite(ctx: SqliteViewContext, indexes: readonly string[] = []): void {
  const t = ctx.table('kv');
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${t} (
    namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, metadata TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER, position INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)) STRICT`);
  ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('kv_exp')} ON ${t} (expires_at) WHERE expires_at IS NOT NULL`);
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${ctx.table('ns')} (namespace TEXT PRIMARY KEY, created_at INTEGER NOT NULL) STRICT`);
  // `key` last: queries end in ORDER BY key, and without it SQLite's planner (no ANALYZE statistics)
  // prefers the (namespace, key) primary key to skip the sort, scanning the whole namespace
  indexes.forEach((path, i) => ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table(`kv_ix${i}`)} ON ${t} (namespace, json_extract(value, ${jsonPath(path)}), key)`));
}

/** A stored row as a KvEntry (value and metadata decoded, deeply frozen). */
export function kvFromRow(r: any): KvEntry {
  return {
    namespace: r.namespace,
    key: r.key,
    value: decode(r.value),
    version: Number(r.version),
    metadata: r.metadata === null ? null : decode(r.metadata),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    position: Number(r.position),
  };
}

/** Fold a batch into the SQLite KV view (inside the runner's or the append's transaction). */
export function applyKvSqlite(events: readonly RecordedEvent[], ctx: SqliteViewContext): void {
  const t = ctx.table('kv');
  const q = textsOf(applyTexts, t, () => kvApplyTexts(t, ctx.table('ns')));
  const db = ctx.db;
  const batch = kvBatch(events);
  let current: Map<string, KvEntry> | undefined;
  if (!canPlanBlind(batch)) {
    current = new Map();
    const select = stmt(db, q.select);
    for (const k of touchedKeys(batch)) {
      const r = select.get(k.namespace, k.key);
      if (r) current.set(entryId(k.namespace, k.key), kvFromRow(r));
    }
  }
  const plan = planKv(batch, current);
  for (const ns of plan.dropNamespaces) {
    stmt(db, q.dropKeys).run(ns);
    stmt(db, q.dropNamespace).run(ns);
  }
  if (plan.deletes.length > 0) {
    const del = stmt(db, q.del);
    for (const d of plan.deletes) del.run(d.namespace, d.key);
  }
  if (plan.upserts.length > 0) {
    const up = stmt(db, q.upsert);
    for (const u of plan.upserts) {
      const m = u.metadata === null ? null : encode(u.metadata);
      up.run(u.namespace, u.key, encodeValue(u.value), u.version, m, u.createdAt, u.updatedAt, u.expiresAt, u.position, u.keepMetadata ? 1 : 0, u.keepCreatedAt ? 1 : 0);
    }
  }
  if (plan.namespaces.length > 0) {
    const addNs = stmt(db, q.addNamespace);
    for (const ns of plan.namespaces) addNs.run(ns.namespace, ns.createdAt);
  }
}

/** The statements applying batches to the KV table `t` and the namespace table `n` of a generation. */
function kvApplyTexts(t: string, n: string) {
  return {
    select: `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key = ?`,
    dropKeys: `DELETE FROM ${t} WHERE namespace = ?`,
    dropNamespace: `DELETE FROM ${n} WHERE namespace = ?`,
    del: `DELETE FROM ${t} WHERE namespace = ? AND key = ?`,
    upsert: `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,
     version = excluded.version, metadata = iif(?, metadata, excluded.metadata), created_at = iif(?, created_at, excluded.created_at),
     updated_at = excluded.updated_at, expires_at = excluded.expires_at, position = excluded.position`,
    addNamespace: `INSERT INTO ${n} (namespace, created_at) VALUES (?, ?) ON CONFLICT (namespace) DO NOTHING`,
  };
}
const applyTexts = new Map<string, ReturnType<typeof kvApplyTexts>>();

/** The WHERE, ORDER BY and page of a query, with its parameters (validated filters and options). */
function querySql(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o: QueryOptions | undefined): { sql: string; params: unknown[] } {
  const fs = validateFilters(filters);
  const opts = validateQueryOptions(o);
  const params: unknown[] = [namespace];
  let where = 'namespace = ?' + notExpired(opts, params);
  if (fs.length > 0) where += ' AND ' + whereFilters(fs, params);
  let page = '';
  if (opts.limit !== undefined || opts.offset !== undefined) (page = ' LIMIT ? OFFSET ?'), params.push(opts.limit ?? -1, opts.offset ?? 0);
  return { sql: `WHERE ${where} ORDER BY ${orderBy(opts)}${page}`, params };
}

const notExpired = (o: ReadOptions | undefined, params: unknown[]): string => {
  if (o?.now === undefined) return '';
  params.push(o.now);
  return ' AND (expires_at IS NULL OR expires_at > ?)';
};

/** Reads of the SQLite KV view (the active generation of projection `name`). */
export class SqliteKvReader implements KvReader {
  constructor(private readonly storage: SqliteTables, private readonly name = 'kv') {}

  private async rows(local: 'kv' | 'ns', sql: (t: string) => string, params: unknown[]): Promise<any[]> {
    const t = await this.storage.table(this.name, local);
    return t === undefined ? [] : stmt(this.storage.db, sql(t)).all(...params);
  }

  async get(namespace: string, key: string, o?: ReadOptions): Promise<KvEntry | undefined> {
    const params: unknown[] = [namespace, key];
    const [r] = await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key = ?${notExpired(o, params)}`, params);
    return r && kvFromRow(r);
  }

  async getMany(namespace: string, keys: readonly string[], o?: ReadOptions): Promise<(KvEntry | undefined)[]> {
    const out = new Map<string, KvEntry>();
    for (let i = 0; i < keys.length; i += 500) {
      const params: unknown[] = [namespace, JSON.stringify(keys.slice(i, i + 500))];
      const sql = (t: string) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key IN (SELECT value FROM json_each(?))${notExpired(o, params)}`;
      for (const r of await this.rows('kv', sql, params)) out.set(r.key, kvFromRow(r));
    }
    return keys.map((k) => out.get(k));
  }

  async has(namespace: string, key: string, o?: ReadOptions): Promise<boolean> {
    const params: unknown[] = [namespace, key];
    return (await this.rows('kv', (t) => `SELECT 1 AS x FROM ${t} WHERE namespace = ? AND key = ?${notExpired(o, params)}`, params)).length > 0;
  }

  async list(namespace: string, o: ListOptions = {}): Promise<KvEntry[]> {
    const params: unknown[] = [namespace];
    let where = 'namespace = ?';
    if (o.prefix !== undefined && o.prefix !== '') {
      where += ' AND key >= ?';
      params.push(o.prefix);
      const end = prefixEnd(o.prefix);
      if (end !== undefined) (where += ' AND key < ?'), params.push(end);
    }
    if (o.after !== undefined) (where += ' AND key > ?'), params.push(o.after);
    where += notExpired(o, params);
    let limit = '';
    if (o.limit !== undefined) (limit = ' LIMIT ?'), params.push(o.limit);
    return (await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t} WHERE ${where} ORDER BY key${limit}`, params)).map(kvFromRow);
  }

  async query(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<KvEntry[]> {
    const q = querySql(namespace, filters, o);
    return (await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t} AS kv ${q.sql}`, q.params)).map(kvFromRow);
  }

  /** `query` reading only key, value, version and metadata, rows as arrays (no object per row before the result's own). */
  async queryRows(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<QueryRow[]> {
    const q = querySql(namespace, filters, o);
    const t = await this.storage.table(this.name, 'kv');
    if (t === undefined) return [];
    const rows = rawStmt(this.storage.db, `SELECT key, value, version, metadata FROM ${t} AS kv ${q.sql}`).all(...q.params) as [string, string, number, string | null][];
    const out: QueryRow[] = new Array(rows.length);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      out[i] = { key: r[0], value: decode(r[1]), version: Number(r[2]), metadata: r[3] === null ? null : decode(r[3]) };
    }
    return out;
  }

  /** The plan SQLite chooses for `query(namespace, filters)`: shows whether an index created with `indexes` is used. */
  async explain(namespace: string, filters: ValueFilter | readonly ValueFilter[]): Promise<string[]> {
    const params: unknown[] = [namespace];
    const where = 'namespace = ? AND ' + whereFilters(validateFilters(filters), params);
    const rows = await this.rows('kv', (t) => `EXPLAIN QUERY PLAN SELECT ${COLUMNS} FROM ${t} AS kv WHERE ${where}`, params);
    return rows.map((r) => String(r.detail));
  }

  async count(namespace: string, filters?: ValueFilter | readonly ValueFilter[], o?: ReadOptions): Promise<number> {
    const fs = validateFilters(filters);
    const params: unknown[] = [namespace];
    let where = 'namespace = ?' + notExpired(o, params);
    if (fs.length > 0) where += ' AND ' + whereFilters(fs, params);
    const [r] = await this.rows('kv', (t) => `SELECT count(*) AS n FROM ${t} AS kv WHERE ${where}`, params);
    return Number(r?.n ?? 0);
  }

  async namespaces(): Promise<NamespaceEntry[]> {
    const rows = await this.rows('ns', (t) => `SELECT namespace, created_at FROM ${t} ORDER BY namespace`, []);
    return rows.map((r) => ({ namespace: r.namespace, createdAt: Number(r.created_at) }));
  }

  async expired(now: number, limit: number): Promise<KvEntry[]> {
    const sql = (t: string) => `SELECT ${COLUMNS} FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at, namespace, key LIMIT ?`;
    return (await this.rows('kv', sql, [now, limit])).map(kvFromRow);
  }

  async all(): Promise<KvEntry[]> {
    return (await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t}`, [])).map(kvFromRow);
  }
}
