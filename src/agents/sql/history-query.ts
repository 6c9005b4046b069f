/**
 * SQLAgent's history queries as SQL: the window (`since`, `until`, retention, paging) and the
 * Store's value filters (eq ... endsWith on dotted paths) run in the database, compiled by the same
 * code as the Store's SQL views (`whereFilters` over `kv.value` on SQLite, `whereFiltersPg` over
 * `value_jsonb` on PostgreSQL), so a filter means the same thing on a Store key and on an agent.
 *
 * The `state` column holds the codec's JSON text. SQLite reads it with `json_extract` as it is;
 * PostgreSQL casts it to `jsonb` per row (one cast per row: the subquery is not flattened), so no
 * column has to be added to tables that exist. Rows where SQL could answer differently from the
 * filter's in-process meaning are flagged `exact = false` and the agent evaluates them in process
 * after decoding (and migrating) them: states stored under an older schema version (migrations run
 * on read), text that is not JSON (a damaged row must surface as CorruptionError, as in `history()`),
 * on PostgreSQL, strings with NUL or lone surrogates (jsonb cannot hold them; SQLite compares them
 * as the process does), paths that pass through a tagged codec value (a Date, Map, ...: its fields
 * are not reachable in process) and, on SQLite, an array-index segment applied to an object (JSON
 * paths read `[0]` as an array index only). Filters whose operands hold NUL or lone surrogates
 * (PostgreSQL refuses them as jsonb and text, SQLite's length() stops at NUL) are evaluated in
 * process on every row of the window.
 */
import { matches, parsePath, type Primitive, type ValueFilter } from '../../projections/views/filter.js';
import type { KvEntry } from '../../projections/views/rows.js';
import { jsonPath, whereFilters } from '../../projections/views/kv/sqlite-query.js';
import { whereFiltersPg } from '../../projections/views/kv/postgres-query.js';
import { TAG } from '../../core/codec.js';
import type { SqlDialectName } from './connect.js';
import type { StateRow } from './statements.js';

/** What to select from an agent's rows. Identifiers and integers are checked by the caller. */
export interface HistorySqlRequest {
  dialect: SqlDialectName;
  /** a checked table name (checkTableName) */
  table: string;
  id: string;
  /** versions kept (rows older than the newest `retention` are not part of the history); Infinity: all */
  retention: number;
  /** the agent's current schema version: rows stored under another one are evaluated in process */
  schemaVersion: number;
  /** checked filters (validateFilters); empty: every row of the window */
  filters: readonly ValueFilter[];
  since?: number | undefined;
  until?: number | undefined;
  /** only versions below this one (paging) */
  before?: number | undefined;
  limit?: number | undefined;
}

/** A statement and its parameters, in the dialect's placeholder style. */
export interface HistorySql {
  sql: string;
  params: unknown[];
}

/** PostgreSQL regex of codec text that jsonb cannot hold (as the KV view's jsonbSafe): \u0000 and escaped surrogates. */
const PG_UNSAFE = '\\\\u(0000|[dD][89abAB])';

function quoted(table: string): string {
  return `"${table}"`; // checked: [A-Za-z_][A-Za-z0-9_]{0,62}
}

const NUL_OR_LONE_SURROGATE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function wellFormed(v: Primitive): boolean {
  return typeof v !== 'string' || !NUL_OR_LONE_SURROGATE.test(v);
}

/** True when SQL can evaluate the filters' operands exactly (no NUL, no lone surrogate). */
export function operandsInSql(filters: readonly ValueFilter[]): boolean {
  return filters.every((f) => (Array.isArray(f.value) ? (f.value as Primitive[]).every(wellFormed) : wellFormed(f.value as Primitive)));
}

class Params {
  readonly list: unknown[] = [];
  constructor(private readonly dialect: SqlDialectName) {}
  bind(v: unknown): string {
    this.list.push(v);
    return this.dialect === 'postgres' ? `$${this.list.length}` : '?';
  }
}

/** SQLite: true when the path's in-process value can differ from json_extract's (tagged prefix, index on an object). */
function sqliteInexactTerms(filters: readonly ValueFilter[]): string[] {
  const terms = new Set<string>();
  for (const f of filters) {
    const segs = parsePath(f.path);
    for (let k = 0; k < segs.length; k++) {
      const prefix = k === 0 ? `'$'` : jsonPath(segs.slice(0, k).join('.'));
      terms.add(`json_type(kv.value, ${prefix.slice(0, -1)}."${TAG}"') IS NOT NULL`);
      if (/^\d+$/.test(segs[k]!)) terms.add(`json_type(kv.value, ${prefix}) = 'object'`);
    }
  }
  return [...terms];
}

/** PostgreSQL: true when a prefix of a path is a tagged codec value. */
function pgInexactTerms(filters: readonly ValueFilter[]): string[] {
  const terms = new Set<string>();
  for (const f of filters) {
    const segs = parsePath(f.path);
    for (let k = 0; k < segs.length; k++) terms.add(`(value_jsonb #> '{${[...segs.slice(0, k), TAG].join(',')}}') IS NOT NULL`);
  }
  return [...terms];
}

/**
 * The rows of the window as `kv`, with `value` (SQLite) or `value_jsonb` (PostgreSQL) for the
 * filter compilers and `exact`: whether SQL's answer for the filters is the in-process one.
 */
function windowRows(r: HistorySqlRequest, p: Params, sqlFilters: boolean): string {
  const t = quoted(r.table);
  const pg = r.dialect === 'postgres';
  // placeholders are numbered (PostgreSQL) or positional (SQLite): build the text in reading order
  let exact: string;
  if (!sqlFilters) exact = pg ? 'false' : '0';
  else if (pg) {
    const inexact = pgInexactTerms(r.filters);
    exact = `(CASE WHEN b.value_jsonb IS NULL THEN false ELSE b.schema_version = ${p.bind(r.schemaVersion)}${inexact.length ? ` AND NOT (${inexact.join(' OR ')})` : ''} END)`;
  } else {
    const inexact = sqliteInexactTerms(r.filters).map((x) => x.replaceAll('kv.value', 'b.value'));
    const plain = `b.schema_version = ${p.bind(r.schemaVersion)} AND json_valid(b.value)`;
    // nested CASE: the JSON functions of the inner test only run on valid JSON
    exact = `(CASE WHEN ${plain} THEN (CASE WHEN ${inexact.length ? inexact.join(' OR ') : '0'} THEN 0 ELSE 1 END) ELSE 0 END)`;
  }
  const value = pg ? `CASE WHEN state !~ ${p.bind(PG_UNSAFE)} THEN state::jsonb END AS value_jsonb` : 'state AS value';
  let where = `agent_id = ${p.bind(r.id)}`;
  if (r.retention !== Infinity) where += ` AND version > (SELECT coalesce(max(version), 0) FROM ${t} WHERE agent_id = ${p.bind(r.id)}) - ${p.bind(r.retention)}`;
  if (r.since !== undefined) where += ` AND time >= ${p.bind(r.since)}`;
  if (r.until !== undefined) where += ` AND time <= ${p.bind(r.until)}`;
  if (r.before !== undefined) where += ` AND version < ${p.bind(r.before)}`;
  // OFFSET 0 keeps PostgreSQL from inlining the subquery, which would cast the text once per use
  return `SELECT b.*, ${exact} AS exact FROM (SELECT version, state, time, schema_version, ${value} FROM ${t} WHERE ${where}${pg ? ' OFFSET 0' : ''}) AS b`;
}

function compiledFilters(r: HistorySqlRequest, p: Params): string {
  return r.dialect === 'postgres' ? whereFiltersPg(r.filters, p.list) : whereFilters(r.filters, p.list);
}

/**
 * The rows of the window that match the filters (and the `exact = false` rows, to be decided in
 * process), newest first: columns version, state, time, schema_version, exact.
 */
export function selectHistorySql(r: HistorySqlRequest): HistorySql {
  const p = new Params(r.dialect);
  const sqlFilters = r.filters.length > 0 && operandsInSql(r.filters);
  const rows = windowRows(r, p, sqlFilters);
  const yes = r.dialect === 'postgres' ? 'true' : '1';
  const where = sqlFilters ? ` WHERE CASE WHEN kv.exact THEN (${compiledFilters(r, p)}) ELSE ${yes} END` : '';
  const limit = r.limit === undefined ? '' : ` LIMIT ${p.bind(r.limit)}`;
  return { sql: `SELECT version, state, time, schema_version, exact FROM (${rows}) AS kv${where} ORDER BY version DESC${limit}`, params: p.list };
}

/**
 * The count of the window's rows matching the filters in SQL (a row with kind 1 and n), plus the
 * `exact = false` rows (kind 2, with their state) to be decided in process.
 */
export function countHistorySql(r: HistorySqlRequest): HistorySql {
  const p = new Params(r.dialect);
  const sqlFilters = r.filters.length > 0 && operandsInSql(r.filters);
  const rows = windowRows(r, p, sqlFilters);
  if (r.filters.length === 0) return { sql: `SELECT 1 AS kind, count(*) AS n FROM (${rows}) AS kv`, params: p.list };
  const no = r.dialect === 'postgres' ? 'false' : '0';
  const matched = sqlFilters ? `CASE WHEN kv.exact THEN (${compiledFilters(r, p)}) ELSE ${no} END` : no;
  return {
    sql: `WITH kv AS (${rows})
      SELECT 1 AS kind, count(*) AS n, NULL AS version, NULL AS state, NULL AS time, NULL AS schema_version FROM kv WHERE ${matched}
      UNION ALL
      SELECT 2 AS kind, 0 AS n, version, state, time, schema_version FROM kv WHERE NOT kv.exact`,
    params: p.list,
  };
}

/** A selected row as a StateRow (drivers return bigint columns as strings or numbers). */
export function toStateRow(r: Record<string, unknown>): StateRow {
  return { version: Number(r.version), state: String(r.state), time: Number(r.time), schema_version: Number(r.schema_version) };
}

/** The filters' in-process meaning (the Store's memory view evaluates them the same way) on a decoded state. */
export function matchesState(state: unknown, filters: readonly ValueFilter[]): boolean {
  return matches({ value: state, expiresAt: null } as KvEntry, filters);
}
