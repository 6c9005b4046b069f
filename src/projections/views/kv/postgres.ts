/**
 * The KV view in PostgreSQL: table `kv` with the value as codec text (exact round trip: key order,
 * Date, Map, BigInt ...) and as `jsonb` (queries, indexes, and users' own SQL; NULL for the rare
 * value PostgreSQL's jsonb cannot hold: strings with NUL or lone surrogates), and table `ns`.
 * A batch costs one read and one or two writes, whatever its size (arrays bound through unnest).
 */
import { decode, encode } from '../../../core/codec.js';
import { encodeValue } from '../encoded.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { PostgresViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { matches, sortAndPage, validateFilters, validateQueryOptions, type QueryOptions, type ValueFilter } from '../filter.js';
import { prefixEnd } from '../keys.js';
import { canPlanBlind, kvBatch, planKv, touchedKeys } from '../plan.js';
import type { KvEntry, NamespaceEntry } from '../rows.js';
import type { PostgresTables } from '../sql-statements.js';
import type { KvReader, ListOptions, QueryRow, ReadOptions } from '../types.js';
import { jsonbPath, orderByPg, whereFiltersPg } from './postgres-query.js';
import type { FusedBuilder } from '../../storage/postgres-fused.js';
import { kvFromRow } from './sqlite.js';

const COLUMNS = 'namespace, key, value, version, metadata, created_at, updated_at, expires_at, position';

/** Create the KV tables of a generation; `indexes`: value paths to index for queries. */
export async function setupKvPostgres(ctx: PostgresViewContext, indexes: readonly string[] = []): Promise<void> {
  const t = ctx.table('kv');
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${t} (
    namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL, value_jsonb jsonb, version bigint NOT NULL,
    metadata text, created_at bigint NOT NULL, updated_at bigint NOT NULL, expires_at bigint, position bigint NOT NULL,
    PRIMARY KEY (namespace, key))`);
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('kv_exp')} ON ${t} (expires_at) WHERE expires_at IS NOT NULL`);
  // the rare rows jsonb cannot hold (see unsafeRows): found by queries without reading the namespace
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('kv_nojsonb')} ON ${t} (namespace) WHERE value_jsonb IS NULL`);
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${ctx.table('ns')} (namespace text COLLATE "C" PRIMARY KEY, created_at bigint NOT NULL)`);
  for (const [i, path] of indexes.entries()) await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name(`kv_ix${i}`)} ON ${t} (namespace, ${jsonbPath(path)})`);
}

/** Whether PostgreSQL's jsonb can hold this codec text (no \u0000, no lone surrogate escapes). */
export function jsonbSafe(text: string): boolean {
  return !/\\u(?:0000|d[89a-f])/i.test(text);
}

/** Fold a batch into the PostgreSQL KV view: one read (none when the batch can be planned blind) and queued writes (see PostgresViewContext.defer). */
export async function applyKvPostgres(events: readonly RecordedEvent[], ctx: PostgresViewContext): Promise<void> {
  const t = ctx.table('kv');
  const n = ctx.table('ns');
  const batch = kvBatch(events);
  const keys = touchedKeys(batch);
  const current = canPlanBlind(batch) ? undefined : new Map<string, KvEntry>();
  if (current && keys.length > 0) {
    const { rows } = await ctx.query(
      `SELECT ${COLUMNS} FROM ${t} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      [keys.map((k) => k.namespace), keys.map((k) => k.key)],
    );
    for (const r of rows) current.set(entryId(r.namespace, r.key), kvFromRow(r));
  }
  const plan = planKv(batch, current);
  if (plan.dropNamespaces.length > 0) {
    await ctx.query(`WITH d AS (DELETE FROM ${t} WHERE namespace = ANY($1::text[])) DELETE FROM ${n} WHERE namespace = ANY($1::text[])`, [plan.dropNamespaces]);
  }
  // deletes, upserts and namespaces touch distinct rows: queued together (one round trip with the
  // other views' writes); the namespace drops above went first, as the upsert's kept fields depend on them
  if (plan.deletes.length > 0) {
    ctx.defer(`DELETE FROM ${t} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [plan.deletes.map((d) => d.namespace), plan.deletes.map((d) => d.key)]);
  }
  const u = plan.upserts;
  if (u.length > 0) {
    const texts = u.map((x) => encodeValue(x.value));
    ctx.defer(
      `INSERT INTO ${t} (namespace, key, value, value_jsonb, version, metadata, created_at, updated_at, expires_at, position)
       SELECT x.ns, x.k, x.v, CASE WHEN x.j THEN x.v::jsonb END, x.ver, CASE WHEN x.km THEN c.metadata ELSE x.m END,
         CASE WHEN x.kc THEN coalesce(c.created_at, x.cr) ELSE x.cr END, x.up, x.e, x.p
       FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bool[], $12::bool[])
         AS x(ns, k, v, j, ver, m, cr, up, e, p, km, kc)
       LEFT JOIN ${t} AS c ON c.namespace = x.ns AND c.key = x.k
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, value_jsonb = excluded.value_jsonb, version = excluded.version,
         metadata = excluded.metadata, created_at = excluded.created_at, updated_at = excluded.updated_at, expires_at = excluded.expires_at,
         position = excluded.position`,
      [
        u.map((x) => x.namespace),
        u.map((x) => x.key),
        texts,
        texts.map(jsonbSafe),
        u.map((x) => x.version),
        u.map((x) => (x.metadata === null ? null : encode(x.metadata))),
        u.map((x) => x.createdAt),
        u.map((x) => x.updatedAt),
        u.map((x) => x.expiresAt),
        u.map((x) => x.position),
        u.map((x) => x.keepMetadata === true),
        u.map((x) => x.keepCreatedAt === true),
      ],
    );
  }
  if (plan.namespaces.length > 0) {
    ctx.defer(`INSERT INTO ${n} (namespace, created_at) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (namespace) DO NOTHING`, [
      plan.namespaces.map((x) => x.namespace),
      plan.namespaces.map((x) => x.createdAt),
    ]);
  }
}

/**
 * The SELECT of the rows matching `where` that have no `value_jsonb`: values PostgreSQL's jsonb
 * cannot hold (a string with NUL or a lone surrogate), which SQL filters cannot see. Rare rows,
 * found through the partial index `kv_nojsonb` without reading the namespace's rows.
 * `paths` (the query's filter and sort paths) add `(value_jsonb #> path) IS NULL`, true anyway on
 * these rows, so that an expression index created by `indexes` on such a path can find them: only
 * the rows where that field is missing are read, instead of the whole namespace.
 */
function unsafeRows(t: string, where: string, columns: string, paths: Iterable<string>): string {
  let hint = '';
  for (const p of new Set(paths)) hint += ` AND ${jsonbPath(p)} IS NULL`;
  return `SELECT ${columns} FROM ${t} WHERE ${where} AND value_jsonb IS NULL${hint}`;
}

/** What a query selects and how a row becomes its result. */
interface Shape<T> {
  columns: string;
  from(r: any): T;
}
const ENTRY: Shape<KvEntry> = { columns: COLUMNS, from: kvFromRow };
const ROW: Shape<QueryRow> = {
  columns: 'key, value, version, metadata',
  from: (r) => ({ key: r.key, value: decode(r.value), version: Number(r.version), metadata: r.metadata === null ? null : decode(r.metadata) }),
};

/** Reads of the PostgreSQL KV view (the active generation of projection `name`). */
export class PostgresKvReader implements KvReader {
  constructor(private readonly storage: PostgresTables, private readonly name = 'kv') {}

  private async rows(local: 'kv' | 'ns', sql: (t: string) => string, params: unknown[]): Promise<any[]> {
    const t = await this.storage.table(this.name, local);
    return t === undefined ? [] : (await this.storage.query(sql(t), params)).rows;
  }

  private static live(o: ReadOptions | undefined, params: unknown[]): string {
    if (o?.now === undefined) return '';
    params.push(o.now);
    return ` AND (expires_at IS NULL OR expires_at > $${params.length})`;
  }

  async get(namespace: string, key: string, o?: ReadOptions): Promise<KvEntry | undefined> {
    return (await this.getMany(namespace, [key], o))[0];
  }

  async getMany(namespace: string, keys: readonly string[], o?: ReadOptions): Promise<(KvEntry | undefined)[]> {
    const params: unknown[] = [namespace, keys];
    const where = `namespace = $1 AND key = ANY($2::text[])${PostgresKvReader.live(o, params)}`;
    const found = new Map<string, KvEntry>();
    for (const r of await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t} WHERE ${where}`, params)) found.set(r.key, kvFromRow(r));
    return keys.map((k) => found.get(k));
  }

  async has(namespace: string, key: string, o?: ReadOptions): Promise<boolean> {
    const params: unknown[] = [namespace, key];
    const where = `namespace = $1 AND key = $2${PostgresKvReader.live(o, params)}`;
    return (await this.rows('kv', (t) => `SELECT 1 FROM ${t} WHERE ${where}`, params)).length > 0;
  }

  async list(namespace: string, o: ListOptions = {}): Promise<KvEntry[]> {
    const params: unknown[] = [namespace];
    let where = 'namespace = $1';
    const add = (sql: string, v: unknown) => (params.push(v), (where += sql.replace('?', `$${params.length}`)));
    if (o.prefix !== undefined && o.prefix !== '') {
      add(' AND key >= ?', o.prefix);
      const end = prefixEnd(o.prefix);
      if (end !== undefined) add(' AND key < ?', end);
    }
    if (o.after !== undefined) add(' AND key > ?', o.after);
    where += PostgresKvReader.live(o, params);
    let limit = '';
    if (o.limit !== undefined) (params.push(o.limit), (limit = ` LIMIT $${params.length}`));
    return (await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t} WHERE ${where} ORDER BY key${limit}`, params)).map(kvFromRow);
  }

  /**
   * Queries and counts run as SQL on `value_jsonb`, except for the rows without one (a value
   * holding NUL or a lone surrogate, which jsonb cannot hold): the same statement also returns the
   * namespace's such rows, and they are judged in process (filter.ts, the same meaning). When one
   * matches a paged query, the SQL part is read again up to `offset + limit` with them, and the
   * merge is sorted and paged in process. See {@link unsafeRows}. Without filters or sorts
   * nothing reads `value_jsonb`, and plain SQL answers for every row.
   */
  async query(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<KvEntry[]> {
    return this.select(namespace, filters, o, ENTRY);
  }

  /** `query` with only what the Store returns (key, value, version, metadata): 4 columns travel instead of 9. */
  async queryRows(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<QueryRow[]> {
    return this.select(namespace, filters, o, ROW);
  }

  private async select<T extends { key: string; value: unknown }>(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o: QueryOptions | undefined, shape: Shape<T>): Promise<T[]> {
    const fs = validateFilters(filters);
    const opts = validateQueryOptions(o);
    const paged = opts.limit !== undefined || opts.offset !== undefined;
    const paths = [...fs.map((f) => f.path), ...(opts.sort ?? []).map((x) => x.path)];
    const cols = shape.columns;
    if (paths.length === 0) {
      // nothing reads value_jsonb: the SQL answer holds every row, in key order
      const params: unknown[] = [namespace];
      let sql = `WHERE namespace = $1${PostgresKvReader.live(opts, params)} ORDER BY key`;
      if (opts.limit !== undefined) (params.push(opts.limit), (sql += ` LIMIT $${params.length}`));
      if (opts.offset !== undefined) (params.push(opts.offset), (sql += ` OFFSET $${params.length}`));
      return (await this.rows('kv', (t) => `SELECT ${cols} FROM ${t} ${sql}`, params)).map(shape.from);
    }
    const read = async (page: 'page' | 'top'): Promise<{ sql: T[]; raw: T[] }> => {
      const params: unknown[] = [namespace];
      const live = PostgresKvReader.live(opts, params);
      let where = `namespace = $1${live} AND value_jsonb IS NOT NULL`;
      if (fs.length > 0) where += ' AND ' + whereFiltersPg(fs, params);
      let tail = '';
      if (paged) {
        // 'top': the first offset + limit rows, for a merge with matching rows judged in process
        const limit = opts.limit === undefined ? undefined : page === 'page' ? opts.limit : opts.limit + (opts.offset ?? 0);
        tail = ` ORDER BY ${orderByPg(opts)}`;
        if (limit !== undefined) (params.push(limit), (tail += ` LIMIT $${params.length}`));
        if (page === 'page' && opts.offset !== undefined) (params.push(opts.offset), (tail += ` OFFSET $${params.length}`));
      }
      // one statement; the outer ORDER BY keeps the SQL rows in order (value_jsonb is selected for it only)
      const union = (t: string) =>
        `SELECT ${cols}, raw FROM ((SELECT ${cols}, value_jsonb, false AS raw FROM ${t} WHERE ${where}${tail})
         UNION ALL (${unsafeRows(t, `namespace = $1${live}`, `${cols}, NULL::jsonb, true`, paths)})) AS u ORDER BY raw, ${orderByPg(opts)}`;
      const rows = await this.rows('kv', union, params);
      const out = { sql: [] as T[], raw: [] as T[] };
      for (const r of rows) {
        if (!r.raw) out.sql.push(shape.from(r));
        else {
          const e = shape.from(r);
          // the expiry was judged in SQL (live): only the value is judged here
          if (matches(e as unknown as KvEntry, fs)) out.raw.push(e);
        }
      }
      return out;
    };
    const first = await read('page');
    if (first.raw.length === 0) return first.sql;
    const all = paged ? await read('top') : first;
    return sortAndPage([...all.sql, ...all.raw] as unknown as KvEntry[], opts) as unknown as T[];
  }

  async count(namespace: string, filters?: ValueFilter | readonly ValueFilter[], o?: ReadOptions): Promise<number> {
    const fs = validateFilters(filters);
    const params: unknown[] = [namespace];
    const live = PostgresKvReader.live(o, params);
    if (fs.length === 0) {
      const [r] = await this.rows('kv', (t) => `SELECT count(*) AS n FROM ${t} WHERE namespace = $1${live}`, params);
      return Number(r?.n ?? 0);
    }
    let where = `namespace = $1${live} AND value_jsonb IS NOT NULL`;
    if (fs.length > 0) where += ' AND ' + whereFiltersPg(fs, params);
    const sql = (t: string) => `SELECT count(*) AS n, NULL AS value FROM ${t} WHERE ${where} UNION ALL ${unsafeRows(t, `namespace = $1${live}`, 'NULL, value', fs.map((f) => f.path))}`;
    let n = 0;
    for (const r of await this.rows('kv', sql, params)) {
      if (r.n !== null) n += Number(r.n);
      else if (matches({ value: decode(r.value) } as KvEntry, fs)) n++;
    }
    return n;
  }

  async namespaces(): Promise<NamespaceEntry[]> {
    const rows = await this.rows('ns', (t) => `SELECT namespace, created_at FROM ${t} ORDER BY namespace`, []);
    return rows.map((r) => ({ namespace: r.namespace, createdAt: Number(r.created_at) }));
  }

  async expired(now: number, limit: number): Promise<KvEntry[]> {
    const sql = (t: string) => `SELECT ${COLUMNS} FROM ${t} WHERE expires_at IS NOT NULL AND expires_at <= $1 ORDER BY expires_at, namespace, key LIMIT $2`;
    return (await this.rows('kv', sql, [now, limit])).map(kvFromRow);
  }

  async all(): Promise<KvEntry[]> {
    return (await this.rows('kv', (t) => `SELECT ${COLUMNS} FROM ${t}`, [])).map(kvFromRow);
  }
}

/** The fused form of a `kv.set` (see storage/postgres-fused.ts): the same upsert as {@link applyKvPostgres} plans blind, kept fields from the locked row. */
export const fusedKvSet: FusedBuilder = (s, table) => {
  const t = table('kv');
  return [
    {
      name: 'kv_w',
      sql: `INSERT INTO ${t} AS c (namespace, key, value, value_jsonb, version, metadata, created_at, updated_at, expires_at, position)
        SELECT ${s.ns}, ${s.key}, ${s.value}, ${s.jsonb}, w.rev, ${s.meta}, w.ms, w.ms, ${s.expires}, w.pos FROM w
        ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, value_jsonb = excluded.value_jsonb, version = excluded.version,
          metadata = ${s.keepMeta ? 'c.metadata' : 'excluded.metadata'}, created_at = c.created_at, updated_at = excluded.updated_at,
          expires_at = excluded.expires_at, position = excluded.position
        RETURNING metadata`,
    },
    { name: 'kv_ns', sql: `INSERT INTO ${table('ns')} (namespace, created_at) SELECT ${s.ns}, w.ms FROM w ON CONFLICT (namespace) DO NOTHING` },
  ];
};

/**
 * The fused form of a `kv.deleted` (see storage/postgres-fused.ts): the row goes, through a function
 * whose DELETE reads a snapshot taken after the stream's lock (a row a racing set created meanwhile
 * is seen, as on the usual path), and the namespace exists (as {@link applyKvPostgres} plans it).
 */
export const fusedKvDeleted: FusedBuilder = (s, table) => {
  const t = table('kv');
  if (t.includes("'")) return undefined;
  return [
    { name: 'kv_d', sql: `SELECT ${s.schema}.dgent_fused_kv_delete('${t}'::regclass, ${s.ns}, ${s.key}) AS n FROM w`, read: true },
    { name: 'kv_ns', sql: `INSERT INTO ${table('ns')} (namespace, created_at) SELECT ${s.ns}, w.ms FROM w ON CONFLICT (namespace) DO NOTHING` },
  ];
};

/**
 * The fused form of a `kv.patched` or `kv.incremented` with a fold hint (see FoldHint in
 * storage/postgres-fused.ts): the row takes the folded value only where it is still at the hinted
 * version (`kv_u` returns it, or nothing and the statement raises DG002); metadata, expiry and
 * creation time stay, as the fold keeps them.
 */
export const fusedKvHinted: FusedBuilder = (s, table) => {
  if (s.hintVersion === undefined) return undefined;
  return [
    {
      name: 'kv_u',
      sql: `UPDATE ${table('kv')} AS c SET value = ${s.value}, value_jsonb = ${s.jsonb}, version = w.rev, updated_at = w.ms, position = w.pos
        FROM w WHERE c.namespace = ${s.ns} AND c.key = ${s.key} AND c.version = ${s.hintVersion} RETURNING c.metadata, c.expires_at`,
    },
    { name: 'kv_ns', sql: `INSERT INTO ${table('ns')} (namespace, created_at) SELECT ${s.ns}, w.ms FROM w ON CONFLICT (namespace) DO NOTHING` },
  ];
};
