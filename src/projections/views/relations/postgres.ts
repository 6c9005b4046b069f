/**
 * The relations view in PostgreSQL: the SQLite view's tables (`rel` with its inverse index, and
 * `hist`), text `COLLATE "C"` so keys order by code point. A batch costs one read (the touched
 * rows) and one round trip of deferred writes.
 */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { PostgresViewContext } from '../../view-context.js';
import { keyedBatch } from '../plan.js';
import type { PostgresTables } from '../sql-statements.js';
import { planRelations, relationsNeeds } from './plan.js';
import { relationIdOf, type KeyRef, type RelationChange, type RelationEntry, type RelationHistoryRetentionOptions } from './rows.js';
import type { FusedBuilder } from '../../storage/postgres-fused.js';
import { changeFromRow, HIST_COLUMNS, REL_COLUMNS, relationFromRow } from './sqlite.js';
import type { RelationsReader } from './types.js';

const T = 'text COLLATE "C" NOT NULL';

/** Create the two tables of a generation. */
export async function setupRelationsPostgres(ctx: PostgresViewContext, byTime = false): Promise<void> {
  const rel = ctx.table('rel');
  const hist = ctx.table('hist');
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${rel} (sns ${T}, skey ${T}, predicate ${T}, ons ${T}, okey ${T},
    version bigint NOT NULL, created_at bigint NOT NULL, actor text, position bigint NOT NULL, PRIMARY KEY (sns, skey, predicate, ons, okey))`);
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('rel_inv')} ON ${rel} (ons, okey, predicate, sns, skey)`);
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${hist} (sns ${T}, skey ${T}, predicate ${T}, ons ${T}, okey ${T}, position bigint NOT NULL,
    version bigint NOT NULL, related boolean NOT NULL, operation text NOT NULL, type text NOT NULL, time bigint NOT NULL, actor text,
    PRIMARY KEY (sns, skey, predicate, ons, okey, position))`);
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('hist_obj')} ON ${hist} (ons, okey)`);
  // the time index serves retention by age only
  if (byTime) await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('hist_time')} ON ${hist} (time)`);
}

const cols = <T>(rows: readonly T[], ...fs: ((r: T) => unknown)[]): unknown[][] => fs.map((f) => rows.map(f));

/** Fold a batch into the PostgreSQL relations view. */
export async function applyRelationsPostgres(events: readonly RecordedEvent[], ctx: PostgresViewContext, retention?: RelationHistoryRetentionOptions): Promise<void> {
  const rel = ctx.table('rel');
  const hist = ctx.table('hist');
  const batch = keyedBatch(events);
  const needs = relationsNeeds(batch);
  const ids = needs.ids.map((id) => JSON.parse(id) as string[]);
  const { rows } = await ctx.query(
    `SELECT ${REL_COLUMNS} FROM ${rel} WHERE (sns, skey, predicate, ons, okey) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]))
     UNION SELECT ${REL_COLUMNS} FROM ${rel} WHERE (sns, skey) IN (SELECT * FROM unnest($6::text[], $7::text[]))
     UNION SELECT ${REL_COLUMNS} FROM ${rel} WHERE (ons, okey) IN (SELECT * FROM unnest($6::text[], $7::text[]))
     UNION SELECT ${REL_COLUMNS} FROM ${rel} WHERE sns = ANY($8::text[]) OR ons = ANY($8::text[])`,
    [...[0, 1, 2, 3, 4].map((i) => ids.map((t) => t[i])), needs.keys.map((k) => k.namespace), needs.keys.map((k) => k.key), needs.namespaces],
  );
  const loaded = new Map<string, RelationEntry>();
  for (const row of rows) {
    const r = relationFromRow(row);
    loaded.set(relationIdOf(r), r);
  }
  const plan = planRelations(batch, loaded, retention);
  // the writes touch disjoint rows (and the history DELETE must not see this batch's inserts): one deferred round trip
  if (plan.deletes.length > 0) {
    ctx.defer(
      `DELETE FROM ${rel} WHERE (sns, skey, predicate, ons, okey) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]))`,
      cols(plan.deletes, (r) => r.subject.namespace, (r) => r.subject.key, (r) => r.predicate, (r) => r.object.namespace, (r) => r.object.key),
    );
  }
  if (plan.upserts.length > 0) {
    ctx.defer(
      `INSERT INTO ${rel} (${REL_COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::bigint[])
       ON CONFLICT (sns, skey, predicate, ons, okey) DO UPDATE SET version = excluded.version, created_at = excluded.created_at, actor = excluded.actor, position = excluded.position`,
      cols(plan.upserts, (r) => r.subject.namespace, (r) => r.subject.key, (r) => r.predicate, (r) => r.object.namespace, (r) => r.object.key, (r) => r.version, (r) => r.createdAt, (r) => r.actor, (r) => r.position),
    );
  }
  if (plan.purges.length > 0) {
    ctx.defer(
      `DELETE FROM ${hist} WHERE (sns, skey) IN (SELECT * FROM unnest($1::text[], $2::text[])) OR (ons, okey) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      cols(plan.purges, (k) => k.namespace, (k) => k.key),
    );
  }
  if (plan.changes.length > 0) {
    ctx.defer(
      `INSERT INTO ${hist} (${HIST_COLUMNS}) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::boolean[], $9::text[], $10::text[], $11::bigint[], $12::text[])`,
      cols(plan.changes, (c) => c.subject.namespace, (c) => c.subject.key, (c) => c.predicate, (c) => c.object.namespace, (c) => c.object.key, (c) => c.position, (c) => c.version, (c) => c.related, (c) => c.operation, (c) => c.type, (c) => c.time, (c) => c.actor),
    );
  }
  // retention: after the inserts (query sends the deferred writes first)
  if (plan.trims.length > 0) {
    await ctx.query(
      `DELETE FROM ${hist} AS x USING (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[]) AS t(sns, skey, predicate, ons, okey, keep)) AS t
       WHERE x.sns = t.sns AND x.skey = t.skey AND x.predicate = t.predicate AND x.ons = t.ons AND x.okey = t.okey
       AND x.position < coalesce((SELECT h.position FROM ${hist} AS h WHERE h.sns = t.sns AND h.skey = t.skey AND h.predicate = t.predicate AND h.ons = t.ons AND h.okey = t.okey ORDER BY h.position DESC LIMIT 1 OFFSET t.keep - 1), -1)`,
      cols(plan.trims, (t) => t.subject.namespace, (t) => t.subject.key, (t) => t.predicate, (t) => t.object.namespace, (t) => t.object.key, (t) => t.keep),
    );
  }
  const older = `x.time < $1 AND x.position < (SELECT max(h.position) FROM ${hist} AS h WHERE h.sns = x.sns AND h.skey = x.skey AND h.predicate = x.predicate AND h.ons = x.ons AND h.okey = x.okey)`;
  for (const a of plan.age) {
    if (a.namespace !== null) await ctx.query(`DELETE FROM ${hist} AS x WHERE x.sns = $2 AND ${older}`, [a.before, a.namespace]);
    else await ctx.query(`DELETE FROM ${hist} AS x WHERE NOT (x.sns = ANY($2::text[])) AND ${older}`, [a.before, a.except]);
  }
}

/** Reads of the PostgreSQL relations view. */
export class PostgresRelationsReader implements RelationsReader {
  constructor(private readonly storage: PostgresTables, private readonly name = 'kv_relations') {}

  private async select(local: string, sql: (t: string) => string, params: unknown[]): Promise<any[]> {
    const t = await this.storage.table(this.name, local);
    return t === undefined ? [] : (await this.storage.query(sql(t), params)).rows;
  }

  async related(subject: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    const sql = (t: string) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE sns = $1 AND skey = $2 AND ($3::text IS NULL OR predicate = $3) ORDER BY predicate, ons, okey`;
    return (await this.select('rel', sql, [subject.namespace, subject.key, predicate ?? null])).map(relationFromRow);
  }

  async relatedTo(object: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    const sql = (t: string) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE ons = $1 AND okey = $2 AND ($3::text IS NULL OR predicate = $3) ORDER BY predicate, sns, skey`;
    return (await this.select('rel', sql, [object.namespace, object.key, predicate ?? null])).map(relationFromRow);
  }

  async get(subject: KeyRef, predicate: string, object: KeyRef): Promise<RelationEntry | undefined> {
    const sql = (t: string) => `SELECT ${REL_COLUMNS} FROM ${t} WHERE sns = $1 AND skey = $2 AND predicate = $3 AND ons = $4 AND okey = $5`;
    const rows = await this.select('rel', sql, [subject.namespace, subject.key, predicate, object.namespace, object.key]);
    return rows[0] === undefined ? undefined : relationFromRow(rows[0]);
  }

  async history(subject: KeyRef, predicate: string, object: KeyRef, o: { limit?: number | undefined } = {}): Promise<RelationChange[]> {
    const sql = (t: string) => `SELECT ${HIST_COLUMNS} FROM ${t} WHERE sns = $1 AND skey = $2 AND predicate = $3 AND ons = $4 AND okey = $5 ORDER BY position DESC LIMIT $6`;
    return (await this.select('hist', sql, [subject.namespace, subject.key, predicate, object.namespace, object.key, o.limit ?? null])).map(changeFromRow);
  }

  async all(): Promise<RelationEntry[]> {
    return (await this.select('rel', (t) => `SELECT ${REL_COLUMNS} FROM ${t}`, [])).map(relationFromRow);
  }

  async allHistory(): Promise<RelationChange[]> {
    return (await this.select('hist', (t) => `SELECT ${HIST_COLUMNS} FROM ${t}`, [])).map(changeFromRow);
  }
}

/**
 * The fused form of a `kv.deleted` (see storage/postgres-fused.ts): the relations naming the key go,
 * each leaving a history row at its version (as stepRelations does); none with retention. Through a
 * function whose statement reads a snapshot taken after the append's waits: a relation that a
 * relate in its own stream committed meanwhile is seen, as on the usual path.
 */
export function fusedRelationsDeleted(retention: RelationHistoryRetentionOptions | undefined): FusedBuilder {
  return (s, table) => {
    const rel = table('rel');
    const hist = table('hist');
    if (retention !== undefined || rel.includes("'") || hist.includes("'")) return undefined;
    return [
      {
        name: 'rel_d',
        sql: `SELECT ${s.schema}.dgent_fused_rel_delete('${rel}'::regclass, '${hist}'::regclass, ${s.ns}, ${s.key}, w.pos, ${s.op}, ${s.type}, w.ms, ${s.actor}) AS n FROM w`,
        read: true,
      },
    ];
  };
}
