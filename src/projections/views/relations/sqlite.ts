/**
 * The relations view in SQLite. Table `rel`: one row per live relation, primary key (subject
 * namespace, subject key, predicate, object namespace, object key) for `related`, and index
 * `rel_inv` (object, predicate, subject) for `relatedTo`: both directions are one table, so they can
 * never disagree. Table `hist`: every change of every relation, by relation and position.
 */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { SqliteViewContext } from '../../view-context.js';
import { keyedBatch } from '../plan.js';
import { stmt, type SqliteTables } from '../sql-statements.js';
import { planRelations, relationsNeeds } from './plan.js';
import { relationIdOf, type KeyRef, type RelationChange, type RelationEntry, type RelationHistoryRetentionOptions } from './rows.js';
import type { RelationsReader } from './types.js';

export const REL_COLUMNS = 'sns, skey, predicate, ons, okey, version, created_at, actor, position';
export const HIST_COLUMNS = 'sns, skey, predicate, ons, okey, position, version, related, operation, type, time, actor';

/** Create the two tables of a generation. */
export function setupRelationsSqlite(ctx: SqliteViewContext, byTime = false): void {
  const rel = ctx.table('rel');
  const hist = ctx.table('hist');
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${rel} (
    sns TEXT NOT NULL, skey TEXT NOT NULL, predicate TEXT NOT NULL, ons TEXT NOT NULL, okey TEXT NOT NULL,
    version INTEGER NOT NULL, created_at INTEGER NOT NULL, actor TEXT, position INTEGER NOT NULL,
    PRIMARY KEY (sns, skey, predicate, ons, okey)) STRICT, WITHOUT ROWID`);
  ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('rel_inv')} ON ${rel} (ons, okey, predicate, sns, skey)`);
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${hist} (
    sns TEXT NOT NULL, skey TEXT NOT NULL, predicate TEXT NOT NULL, ons TEXT NOT NULL, okey TEXT NOT NULL, position INTEGER NOT NULL,
    version INTEGER NOT NULL, related INTEGER NOT NULL, operation TEXT NOT NULL, type TEXT NOT NULL, time INTEGER NOT NULL, actor TEXT,
    PRIMARY KEY (sns, skey, predicate, ons, okey, position)) STRICT, WITHOUT ROWID`);
  ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('hist_obj')} ON ${hist} (ons, okey)`);
  // the time index serves retention by age only
  if (byTime) ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('hist_time')} ON ${hist} (time)`);
}

/** Same relation as the outer `hist` row (for the correlated subqueries of retention). */
const SAME = (h: string, t: string) => `${h}.sns = ${t}.sns AND ${h}.skey = ${t}.skey AND ${h}.predicate = ${t}.predicate AND ${h}.ons = ${t}.ons AND ${h}.okey = ${t}.okey`;

/** A stored `rel` row as a RelationEntry (PostgreSQL rows too). */
export function relationFromRow(r: any): RelationEntry {
  return {
    subject: { namespace: r.sns, key: r.skey },
    predicate: r.predicate,
    object: { namespace: r.ons, key: r.okey },
    version: Number(r.version),
    createdAt: Number(r.created_at),
    actor: r.actor,
    position: Number(r.position),
  };
}

/** A stored `hist` row as a RelationChange (PostgreSQL rows too). */
export function changeFromRow(r: any): RelationChange {
  return {
    subject: { namespace: r.sns, key: r.skey },
    predicate: r.predicate,
    object: { namespace: r.ons, key: r.okey },
    version: Number(r.version),
    related: Boolean(r.related),
    operation: r.operation,
    type: r.type,
    time: Number(r.time),
    actor: r.actor,
    position: Number(r.position),
  };
}

/** Fold a batch into the SQLite relations view: read the touched rows, plan, write. */
export function applyRelationsSqlite(events: readonly RecordedEvent[], ctx: SqliteViewContext, retention?: RelationHistoryRetentionOptions): void {
  const rel = ctx.table('rel');
  const hist = ctx.table('hist');
  const db = ctx.db;
  const batch = keyedBatch(events);
  const needs = relationsNeeds(batch);
  const loaded = new Map<string, RelationEntry>();
  const add = (rows: unknown[]): void => {
    for (const row of rows) {
      const r = relationFromRow(row);
      loaded.set(relationIdOf(r), r);
    }
  };
  const one = stmt(db, `SELECT ${REL_COLUMNS} FROM ${rel} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ?`);
  for (const id of needs.ids) add(one.all(...(JSON.parse(id) as string[])));
  const bySubject = stmt(db, `SELECT ${REL_COLUMNS} FROM ${rel} WHERE sns = ? AND skey = ?`);
  const byObject = stmt(db, `SELECT ${REL_COLUMNS} FROM ${rel} WHERE ons = ? AND okey = ?`);
  for (const k of needs.keys) {
    add(bySubject.all(k.namespace, k.key));
    add(byObject.all(k.namespace, k.key));
  }
  const byNamespace = stmt(db, `SELECT ${REL_COLUMNS} FROM ${rel} WHERE sns = ? UNION ALL SELECT ${REL_COLUMNS} FROM ${rel} WHERE ons = ?`);
  for (const ns of needs.namespaces) add(byNamespace.all(ns, ns));
  const plan = planRelations(batch, loaded, retention);
  const del = stmt(db, `DELETE FROM ${rel} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ?`);
  for (const r of plan.deletes) del.run(r.subject.namespace, r.subject.key, r.predicate, r.object.namespace, r.object.key);
  const up = stmt(db, `INSERT OR REPLACE INTO ${rel} (${REL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  for (const r of plan.upserts) up.run(r.subject.namespace, r.subject.key, r.predicate, r.object.namespace, r.object.key, r.version, r.createdAt, r.actor, r.position);
  const purgeS = stmt(db, `DELETE FROM ${hist} WHERE sns = ? AND skey = ?`);
  const purgeO = stmt(db, `DELETE FROM ${hist} WHERE ons = ? AND okey = ?`);
  for (const k of plan.purges) {
    purgeS.run(k.namespace, k.key);
    purgeO.run(k.namespace, k.key);
  }
  const ins = stmt(db, `INSERT INTO ${hist} (${HIST_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  for (const c of plan.changes) ins.run(c.subject.namespace, c.subject.key, c.predicate, c.object.namespace, c.object.key, c.position, c.version, c.related ? 1 : 0, c.operation, c.type, c.time, c.actor);
  const trim = stmt(db, `DELETE FROM ${hist} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ?
    AND position < coalesce((SELECT position FROM ${hist} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ? ORDER BY position DESC LIMIT 1 OFFSET ?), -1)`);
  for (const t of plan.trims) {
    const rel5 = [t.subject.namespace, t.subject.key, t.predicate, t.object.namespace, t.object.key];
    trim.run(...rel5, ...rel5, t.keep - 1);
  }
  const older = `time < ? AND position < (SELECT max(h.position) FROM ${hist} AS h WHERE ${SAME('h', hist)})`;
  for (const a of plan.age) {
    if (a.namespace !== null) stmt(db, `DELETE FROM ${hist} WHERE sns = ? AND ${older}`).run(a.namespace, a.before);
    else stmt(db, `DELETE FROM ${hist} WHERE sns NOT IN (SELECT value FROM json_each(?)) AND ${older}`).run(JSON.stringify(a.except), a.before);
  }
}

/** Reads of the SQLite relations view. */
export class SqliteRelationsReader implements RelationsReader {
  constructor(private readonly storage: SqliteTables, private readonly name = 'kv_relations') {}

  private async select(local: string, sql: (t: string) => string, params: unknown[]): Promise<any[]> {
    const t = await this.storage.table(this.name, local);
    return t === undefined ? [] : stmt(this.storage.db, sql(t)).all(...params);
  }

  async related(subject: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    const p = predicate === undefined ? '' : ' AND predicate = ?';
    const params = predicate === undefined ? [subject.namespace, subject.key] : [subject.namespace, subject.key, predicate];
    return (await this.select('rel', (t) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE sns = ? AND skey = ?${p} ORDER BY predicate, ons, okey`, params)).map(relationFromRow);
  }

  async relatedTo(object: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    const p = predicate === undefined ? '' : ' AND predicate = ?';
    const params = predicate === undefined ? [object.namespace, object.key] : [object.namespace, object.key, predicate];
    return (await this.select('rel', (t) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE ons = ? AND okey = ?${p} ORDER BY predicate, sns, skey`, params)).map(relationFromRow);
  }

  async get(subject: KeyRef, predicate: string, object: KeyRef): Promise<RelationEntry | undefined> {
    const rows = await this.select('rel', (t) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ?`, [subject.namespace, subject.key, predicate, object.namespace, object.key]);
    return rows[0] === undefined ? undefined : relationFromRow(rows[0]);
  }

  async history(subject: KeyRef, predicate: string, object: KeyRef, o: { limit?: number | undefined } = {}): Promise<RelationChange[]> {
    const params = [subject.namespace, subject.key, predicate, object.namespace, object.key, o.limit ?? -1];
    return (await this.select('hist', (t) => `SELECT ${HIST_COLUMNS} FROM ${t} WHERE sns = ? AND skey = ? AND predicate = ? AND ons = ? AND okey = ? ORDER BY position DESC LIMIT ?`, params)).map(changeFromRow);
  }

  async all(): Promise<RelationEntry[]> {
    return (await this.select('rel', (t) => `SELECT ${REL_COLUMNS} FROM ${t}`, [])).map(relationFromRow);
  }

  async allHistory(): Promise<RelationChange[]> {
    return (await this.select('hist', (t) => `SELECT ${HIST_COLUMNS} FROM ${t}`, [])).map(changeFromRow);
  }
}
