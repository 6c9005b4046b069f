/** The audit view in SQLite: table `audit`, one row per keyed event, by position. */
import { decode, encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { SqliteViewContext } from '../../view-context.js';
import { ms } from '../keys.js';
import { keyedBatch, planAudit } from '../plan.js';
import type { AuditEntry, AuditRetentionOptions } from '../rows.js';
import { stmt, textsOf, type SqliteTables } from '../sql-statements.js';
import type { AuditFilter, AuditReader } from '../types.js';
import { RELATION } from '../../keyed-events.js';

const COLUMNS = 'position, time, actor, operation, type, namespace, key, version, metadata, tx';

/** Create the audit table of a generation, indexed for the filters. */
export function setupAuditSqlite(ctx: SqliteViewContext, byTime = false): void {
  const t = ctx.table('audit');
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${t} (
    position INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, type TEXT NOT NULL,
    namespace TEXT NOT NULL, key TEXT, version INTEGER NOT NULL, metadata TEXT, tx TEXT) STRICT`);
  ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('audit_key')} ON ${t} (namespace, key, position)`);
  ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('audit_actor')} ON ${t} (actor, position)`);
  ctx.db.exec(auditObjectIndexSql(ctx.table('audit_obj'), t, 'sqlite'));
  // the time index serves retention by age only (one index less to write per event without it)
  if (byTime) ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('audit_time')} ON ${t} (time)`);
}

/** A stored row as an AuditEntry. */
export function auditFromRow(r: any): AuditEntry {
  return {
    position: Number(r.position),
    time: Number(r.time),
    actor: r.actor,
    operation: r.operation,
    type: r.type,
    namespace: r.namespace,
    key: r.key,
    version: Number(r.version),
    metadata: r.metadata === null ? null : decode(r.metadata),
    tx: r.tx,
  };
}

/** Fold a batch into the SQLite audit view. */
export function applyAuditSqlite(events: readonly RecordedEvent[], ctx: SqliteViewContext, retention?: AuditRetentionOptions): void {
  const t = ctx.table('audit');
  const q = textsOf(applyTexts, t, () => ({
    purge: `DELETE FROM ${t} WHERE namespace = ? AND key = ?`,
    insert: `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    before: `DELETE FROM ${t} WHERE time < ?`,
  }));
  const plan = planAudit(keyedBatch(events), retention);
  if (plan.purges.length > 0) {
    const purge = stmt(ctx.db, q.purge);
    for (const p of plan.purges) purge.run(p.namespace, p.key);
  }
  const ins = stmt(ctx.db, q.insert);
  for (const a of plan.inserts) ins.run(a.position, a.time, a.actor, a.operation, a.type, a.namespace, a.key, a.version, a.metadata === null ? null : encode(a.metadata), a.tx);
  if (plan.before !== undefined) stmt(ctx.db, q.before).run(plan.before);
}
const applyTexts = new Map<string, { purge: string; insert: string; before: string }>();

/** Rows that name an object in their metadata: relates and unrelates. */
const NAMES_OBJECT = `type IN ('${RELATION.added}', '${RELATION.removed}')`;

/**
 * `field` (`namespace` or `key`) of the object a relate / unrelate row names, in SQLite's or
 * PostgreSQL's JSON syntax: the expression of the partial index `audit_obj` (the query must spell
 * it the same way, with the index's condition beside it, for the index to serve it).
 */
export function auditObjectSql(field: 'namespace' | 'key', dialect: 'sqlite' | 'postgres'): string {
  return dialect === 'sqlite' ? `json_extract(metadata, '$.object.${field}')` : `(metadata::jsonb #>> '{object,${field}}')`;
}

/**
 * The partial index of the rows naming an object (relates and unrelates only, so other appends
 * write no entry in it): without it, `audit({ key })` read the whole table for the object branch.
 */
export function auditObjectIndexSql(index: string, table: string, dialect: 'sqlite' | 'postgres'): string {
  const col = (f: 'namespace' | 'key') => (dialect === 'sqlite' ? auditObjectSql(f, dialect) : `(${auditObjectSql(f, dialect)})`);
  return `CREATE INDEX IF NOT EXISTS ${index} ON ${table} (${col('namespace')}, ${col('key')}, position) WHERE ${NAMES_OBJECT}`;
}

/**
 * WHERE clause and parameters of an audit filter (shared with PostgreSQL, which numbers the
 * placeholders). A key filter matches the key's own rows and the relate / unrelate rows naming it
 * as their object (read from the metadata: the audit table has no object columns; see auditNames).
 */
export function auditWhere(f: AuditFilter, placeholder: (i: number) => string, dialect: 'sqlite' | 'postgres' = 'sqlite'): { where: string; params: unknown[] } {
  const terms: string[] = [];
  const params: unknown[] = [];
  const add = (sql: string, ...vs: unknown[]) => {
    for (const v of vs) {
      params.push(v);
      sql = sql.replace('?', placeholder(params.length));
    }
    terms.push(sql);
  };
  if (f.key === undefined) {
    if (f.namespace !== undefined) add('namespace = ?', f.namespace);
  } else if (f.namespace === undefined) {
    add(`(key = ? OR (${NAMES_OBJECT} AND ${auditObjectSql('key', dialect)} = ?))`, f.key, f.key);
  } else {
    add(`((namespace = ? AND key = ?) OR (${NAMES_OBJECT} AND ${auditObjectSql('namespace', dialect)} = ? AND ${auditObjectSql('key', dialect)} = ?))`, f.namespace, f.key, f.namespace, f.key);
  }
  if (f.actor !== undefined) add('actor = ?', f.actor);
  if (f.operation !== undefined) add('operation = ?', f.operation);
  if (f.since !== undefined) add('time >= ?', ms(f.since));
  if (f.until !== undefined) add('time <= ?', ms(f.until));
  if (f.after !== undefined) add('position > ?', f.after);
  return { where: terms.length === 0 ? 'TRUE' : terms.join(' AND '), params };
}

/** Reads of the SQLite audit view. */
export class SqliteAuditReader implements AuditReader {
  constructor(private readonly storage: SqliteTables, private readonly name = 'kv_audit') {}

  async audit(f: AuditFilter = {}): Promise<AuditEntry[]> {
    const t = await this.storage.table(this.name, 'audit');
    if (t === undefined) return [];
    const { where, params } = auditWhere(f, () => '?');
    params.push(f.limit ?? -1);
    return stmt(this.storage.db, `SELECT ${COLUMNS} FROM ${t} WHERE ${where} ORDER BY position LIMIT ?`).all(...params).map(auditFromRow);
  }

  async all(): Promise<AuditEntry[]> {
    return this.audit();
  }
}
