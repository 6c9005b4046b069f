/**
 * SQLAgent's table and statements. One row per saved version: PRIMARY KEY (agent_id, version),
 * so optimistic concurrency is enforced by the database itself: a version can be inserted once.
 * Identifiers are validated and quoted by Kysely; every value is a bound parameter.
 */
import { createHash } from 'node:crypto';
import { isUnavailable } from '../../streams/postgres/errors.js';
import { sql, type Kysely } from 'kysely';
import { crc32 } from '@node-rs/crc32';
import { InvalidKeyError } from '../../core/errors.js';
import type { SqlDialectName } from './connect.js';

/** A stored row. `time` is epoch ms; `state` the codec's JSON text. */
export interface StateRow {
  version: number;
  state: string;
  time: number;
  schema_version: number;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Check a table name: a plain SQL identifier (letters, digits, underscore; at most 63). */
export function checkTableName(name: unknown): string {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new InvalidKeyError(name, 'a table name must match [A-Za-z_][A-Za-z0-9_]{0,62}');
  return name;
}

/** Check an agent id: any non-empty string up to 1024 characters without NUL (PostgreSQL text cannot hold NUL). */
export function checkAgentId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 1024) throw new InvalidKeyError(id, 'an agent id must be a string of 1 to 1024 characters');
  if (id.includes('\0')) throw new InvalidKeyError(id, 'an agent id must not contain NUL');
  return id;
}

/**
 * What a driver error means for SQLAgent (PostgreSQL SQLSTATEs, better-sqlite3 codes, Node errors):
 * 'wrong-table': the table lacks dgent's columns or has them with other types; 'damaged': the
 * database reports corruption; 'unavailable': it cannot be reached, is busy, locked, full or
 * read-only (a replica, a demoted primary); 'other': anything else.
 */
export function classifySqlError(e: unknown): 'wrong-table' | 'damaged' | 'unavailable' | 'other' {
  const code = codeOf(e);
  const message = e instanceof Error ? e.message : '';
  if (typeof code === 'string') {
    if (code === '42703' || code === '42883' || code === '42804' || (code === 'SQLITE_ERROR' && /no such column|has no column named/.test(message))) return 'wrong-table';
    if (code === 'XX001' || code === 'XX002' || code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return 'damaged';
    if (code === '25006' || code === '55P03' || /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY|PERM|PROTOCOL)/.test(code)) return 'unavailable';
  }
  return isUnavailable(e) ? 'unavailable' : 'other';
}

/** The driver's error code (a SQLSTATE, an SQLITE_* name, a Node errno name), if any. */
function codeOf(e: unknown): unknown {
  return (e as { code?: unknown } | undefined)?.code;
}

/** True for a unique/primary-key violation in either dialect. */
export function isUniqueViolation(e: unknown): boolean {
  const code = codeOf(e);
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/**
 * A write that lost to a concurrent one: a unique violation, or (PostgreSQL under serializable
 * isolation, or a conflict with recovery) a serialization failure or deadlock. Never a reason to
 * fail over: the other writer's version is in this database.
 */
export function isWriteConflict(e: unknown): boolean {
  const code = codeOf(e);
  return isUniqueViolation(e) || code === '40001' || code === '40P01';
}

/**
 * Errors of a named prepared statement that the unprepared path does not have: a pooler in
 * transaction mode (26000 no such statement, 42P05 already exists), `DISCARD ALL` by other code
 * on a shared pool, a table recreated with other column types (0A000 cached plan must not change
 * result type). SQLAgent then runs the statement as Kysely sends it, and stops preparing on that pool.
 */
export function isPreparedStatementTrouble(e: unknown): boolean {
  const code = codeOf(e);
  return code === '26000' || code === '42P05' || code === '0A000';
}

/**
 * Create the table if missing. Safe when several processes start at once: on PostgreSQL the
 * creation runs under a transaction-scoped advisory lock keyed by the table name (a concurrent
 * `CREATE TABLE IF NOT EXISTS` can otherwise fail on the catalog's unique index); SQLite
 * serialises schema changes itself.
 */
export async function ensureTable(db: Kysely<any>, dialect: SqlDialectName, table: string): Promise<void> {
  const create = (q: Kysely<any>) =>
    q.schema
      .createTable(table)
      .ifNotExists()
      .addColumn('agent_id', 'text', (c) => c.notNull())
      .addColumn('version', 'bigint', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('time', 'bigint', (c) => c.notNull())
      .addColumn('schema_version', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint(`${table}_pk`, ['agent_id', 'version'])
      .execute();
  if (dialect === 'postgres') {
    // a table that exists needs no DDL: this also lets agents load from a read-only server (a
    // replica), where even CREATE TABLE IF NOT EXISTS is refused
    const found = await sql<{ t: unknown }>`select to_regclass(${`"${table}"`}) as t`.execute(db); // quoted, as Kysely quotes it
    if (found.rows[0]?.t != null) return;
    const key = crc32(`dgent:table:${table}`) | 0;
    await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${key})`.execute(trx);
      await create(trx);
    });
  } else {
    await create(db);
  }
}

function num(x: unknown): number {
  return typeof x === 'number' ? x : Number(x);
}

function toRow(r: Record<string, unknown>): StateRow {
  return { version: num(r.version), state: String(r.state), time: num(r.time), schema_version: num(r.schema_version) };
}

/** The slice of a pg Pool that runs named (prepared) statements. */
export interface PgQuery {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: Record<string, unknown>[] }>;
}

/** The slice of a better-sqlite3 Database that prepares statements. */
export interface SqliteQuery {
  prepare(sql: string): { get(...values: unknown[]): unknown };
}

/** The hot statements prepared on each better-sqlite3 database, by compiled text. */
const sqliteStatements = new WeakMap<SqliteQuery, Map<string, { get(...values: unknown[]): unknown }>>();

function sqliteGet(db: SqliteQuery, text: string, values: unknown[]): Record<string, unknown> | undefined {
  let byText = sqliteStatements.get(db);
  if (!byText) sqliteStatements.set(db, (byText = new Map()));
  let st = byText.get(text);
  if (!st) byText.set(text, (st = db.prepare(text)));
  return st.get(...values) as Record<string, unknown> | undefined;
}

/** Pools on which named statements failed in a way the unprepared path does not (see isPreparedStatementTrouble). */
const unprepared = new WeakSet<PgQuery>();

/** Run a compiled text as a named prepared statement; on a pool where that cannot work, as `plain` runs it. */
async function namedQuery(pool: PgQuery, c: { name: string; text: string }, values: unknown[], plain: () => Promise<{ rows: unknown[] }>): Promise<unknown[]> {
  if (unprepared.has(pool)) return (await plain()).rows;
  try {
    return (await pool.query({ name: c.name, text: c.text, values })).rows;
  } catch (e) {
    if (!isPreparedStatementTrouble(e)) throw e;
    unprepared.add(pool);
    return (await plain()).rows;
  }
}

/** The connection's fast paths: the pg pool (named prepared statements) or the better-sqlite3 database (cached statements). */
export interface Direct {
  pg?: PgQuery;
  sqlite?: SqliteQuery;
}

/** SQL texts compiled once by Kysely for the hot statements of a table, with their prepared-statement names. */
const compiledTexts = new Map<string, { name: string; text: string }>();

/**
 * Kysely compiles the statement once (with sentinel values); the text then runs as a named
 * prepared statement with the values in `order`. The compiled parameters are checked against
 * `order`, so a change in how Kysely orders them fails loudly instead of binding values to the
 * wrong columns.
 */
function compiledOnce(key: string, compile: () => { sql: string; parameters: readonly unknown[] }, order: readonly unknown[]): { name: string; text: string } {
  let c = compiledTexts.get(key);
  if (!c) {
    const q = compile();
    if (q.parameters.length !== order.length || q.parameters.some((p, i) => p !== order[i])) {
      throw new Error(`dgent: Kysely compiled ${key} with its parameters in an unexpected order`);
    }
    // a name per text (pg requires one text per name on a connection): 120 bits of its SHA-256
    c = { name: `dgent_sa_${createHash('sha256').update(q.sql).digest('base64url').slice(0, 20)}`, text: q.sql };
    compiledTexts.set(key, c);
  }
  return c;
}

/** Sentinel values for compiling: distinct, so their positions identify the parameters. */
const S_ID = '\u0001id';
const S_STATE = '\u0001state';
const S_TIME = -101;
const S_SCHEMA = -102;
const S_EXPECTED = -103;

function insertNextQuery(table: string, id: unknown, expected: unknown, state: unknown, time: unknown, schemaVersion: unknown, exact: boolean) {
  const t = sql.table(table);
  const guard = exact ? sql`where m.v = cast(${expected} as bigint)` : sql``;
  return sql<{ version: unknown }>`insert into ${t} (agent_id, version, state, time, schema_version)
    select cast(${id} as text), m.v + 1, cast(${state} as text), cast(${time} as bigint), cast(${schemaVersion} as integer)
    from (select coalesce((select max(version) from ${t} where agent_id = ${id}), 0) as v) m ${guard}
    returning version`;
}

/**
 * Insert version (current + 1) in one statement; with `expected`, only when current = expected.
 * The current version is a scalar subquery: as an aggregate subquery with the guard outside it,
 * SQLite read every version of the agent (no min/max optimisation; ~1 ms a save at 10k versions).
 * Returns the new version, or undefined when the expectation failed. Two writers racing for the
 * same version: one gets a unique violation, which the caller maps to ConcurrencyError. With a
 * direct connection (the pg pool, or the better-sqlite3 database) the statement runs prepared.
 */
export async function insertNext(db: Kysely<any>, table: string, id: string, expected: number | undefined, state: string, time: number, schemaVersion: number, direct: Direct = {}): Promise<number | undefined> {
  const exact = expected !== undefined;
  const values: unknown[] = [id, state, time, schemaVersion, id];
  if (exact) values.push(expected);
  const row = await firstRow(
    direct,
    `${table}|insert|${exact ? 'exact' : 'any'}`,
    () => insertNextQuery(table, S_ID, S_EXPECTED, S_STATE, S_TIME, S_SCHEMA, exact).compile(db),
    exact ? [S_ID, S_STATE, S_TIME, S_SCHEMA, S_ID, S_EXPECTED] : [S_ID, S_STATE, S_TIME, S_SCHEMA, S_ID],
    values,
    () => insertNextQuery(table, id, expected, state, time, schemaVersion, exact).execute(db),
  );
  return row ? num(row.version) : undefined;
}

/**
 * The first row of a hot statement: on a direct connection, its text compiled once (see
 * compiledOnce; `order` holds the sentinels in the place of `values`) runs prepared; otherwise, and
 * on a pool where named statements cannot work, `plain` runs it as Kysely sends it.
 */
async function firstRow(
  direct: Direct,
  key: string,
  compile: () => { sql: string; parameters: readonly unknown[] },
  order: readonly unknown[],
  values: unknown[],
  plain: () => Promise<{ rows: unknown[] }>,
): Promise<Record<string, unknown> | undefined> {
  if (direct.sqlite) return sqliteGet(direct.sqlite, compiledOnce(`sqlite|${key}`, compile, order).text, values);
  const rows = direct.pg ? await namedQuery(direct.pg, compiledOnce(`pg|${key}`, compile, order), values, plain) : (await plain()).rows;
  return rows[0] as Record<string, unknown> | undefined;
}

function selectCurrentQuery(db: Kysely<any>, table: string, id: string) {
  return db.selectFrom(table).select(['version', 'state', 'time', 'schema_version']).where('agent_id', '=', id).orderBy('version', 'desc').limit(1);
}

/** The newest row, or undefined (on a prepared statement, with a direct connection). */
export async function selectCurrent(db: Kysely<any>, table: string, id: string, direct: Direct = {}): Promise<StateRow | undefined> {
  const r = await firstRow(direct, `${table}|current`, () => selectCurrentQuery(db, table, S_ID).compile(), [S_ID, 1], [id, 1], async () => ({ rows: await selectCurrentQuery(db, table, id).execute() }));
  return r ? toRow(r) : undefined;
}

/** The current version (0 when none). */
export async function selectVersion(db: Kysely<any>, table: string, id: string): Promise<number> {
  const r = await db.selectFrom(table).select((eb) => eb.fn.max('version').as('v')).where('agent_id', '=', id).executeTakeFirst();
  return r?.v == null ? 0 : num(r.v);
}

/** Newest rows first, at most `limit`. */
export async function selectHistory(db: Kysely<any>, table: string, id: string, limit: number): Promise<StateRow[]> {
  const rows = await db.selectFrom(table).select(['version', 'state', 'time', 'schema_version']).where('agent_id', '=', id).orderBy('version', 'desc').limit(limit).execute();
  return rows.map(toRow);
}

/** The row at a version, or the newest at or before a time; only among versions above `floor`. */
export async function selectAt(db: Kysely<any>, table: string, id: string, target: { version: number } | { time: number }, floor: number): Promise<StateRow | undefined> {
  let q = db.selectFrom(table).select(['version', 'state', 'time', 'schema_version']).where('agent_id', '=', id).where('version', '>', floor);
  q = 'version' in target ? q.where('version', '=', target.version) : q.where('time', '<=', target.time);
  const r = await q.orderBy('version', 'desc').limit(1).executeTakeFirst();
  return r ? toRow(r) : undefined;
}

/** Delete versions at or below `upTo` (retention pruning). */
export async function prune(db: Kysely<any>, table: string, id: string, upTo: number): Promise<void> {
  await db.deleteFrom(table).where('agent_id', '=', id).where('version', '<=', upTo).execute();
}
