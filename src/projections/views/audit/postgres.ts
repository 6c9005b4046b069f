/** The audit view in PostgreSQL: table `audit`, one row per keyed event, by position. */
import { encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { PostgresViewContext } from '../../view-context.js';
import { keyedBatch, planAudit } from '../plan.js';
import type { AuditEntry, AuditRetentionOptions } from '../rows.js';
import type { PostgresTables } from '../sql-statements.js';
import type { AuditFilter, AuditReader } from '../types.js';
import { auditFromRow, auditObjectIndexSql, auditWhere } from './sqlite.js';
import type { FusedBuilder } from '../../storage/postgres-fused.js';

const COLUMNS = 'position, time, actor, operation, type, namespace, key, version, metadata, tx';

/** Create the audit table of a generation, indexed for the filters. */
export async function setupAuditPostgres(ctx: PostgresViewContext, byTime = false): Promise<void> {
  const t = ctx.table('audit');
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${t} (
    position bigint PRIMARY KEY, time bigint NOT NULL, actor text, operation text NOT NULL, type text NOT NULL,
    namespace text COLLATE "C" NOT NULL, key text COLLATE "C", version bigint NOT NULL, metadata text, tx text)`);
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('audit_key')} ON ${t} (namespace, key, position)`);
  await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('audit_actor')} ON ${t} (actor, position)`);
  await ctx.query(auditObjectIndexSql(ctx.name('audit_obj'), t, 'postgres'));
  // the time index serves retention by age only (one index less to write per event without it)
  if (byTime) await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('audit_time')} ON ${t} (time)`);
}

/** Fold a batch into the PostgreSQL audit view: one statement (purges, inserts and retention together). */
export async function applyAuditPostgres(events: readonly RecordedEvent[], ctx: PostgresViewContext, retention?: AuditRetentionOptions): Promise<void> {
  const t = ctx.table('audit');
  const plan = planAudit(keyedBatch(events), retention);
  if (plan.purges.length > 0) {
    await ctx.query(`DELETE FROM ${t} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [plan.purges.map((p) => p.namespace), plan.purges.map((p) => p.key)]);
  }
  const a = plan.inserts;
  // queued: sent with the other views' writes (the purges above went first; the retention DELETE below sends it first)
  if (a.length > 0) ctx.defer(
    `INSERT INTO ${t} (${COLUMNS}) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[])`,
    [
      a.map((x) => x.position), a.map((x) => x.time), a.map((x) => x.actor), a.map((x) => x.operation), a.map((x) => x.type), a.map((x) => x.namespace),
      a.map((x) => x.key), a.map((x) => x.version), a.map((x) => (x.metadata === null ? null : encode(x.metadata))), a.map((x) => x.tx),
    ],
  );
  if (plan.before !== undefined) await ctx.query(`DELETE FROM ${t} WHERE time < $1`, [plan.before]);
}

/** Reads of the PostgreSQL audit view. */
export class PostgresAuditReader implements AuditReader {
  constructor(private readonly storage: PostgresTables, private readonly name = 'kv_audit') {}

  async audit(f: AuditFilter = {}): Promise<AuditEntry[]> {
    const t = await this.storage.table(this.name, 'audit');
    if (t === undefined) return [];
    const { where, params } = auditWhere(f, (i) => `$${i}`, 'postgres');
    params.push(f.limit ?? null);
    return (await this.storage.query(`SELECT ${COLUMNS} FROM ${t} WHERE ${where} ORDER BY position LIMIT $${params.length}`, params)).rows.map(auditFromRow);
  }

  async all(): Promise<AuditEntry[]> {
    return this.audit();
  }
}

/** The fused form of a `kv.set`, `kv.deleted`, `kv.patched` or `kv.incremented` (see storage/postgres-fused.ts), without retention by age (which deletes by time). Only a set's row has metadata; the others get the NULL their plan gives. */
export function fusedAuditSet(retention: AuditRetentionOptions | undefined): FusedBuilder {
  return (s, table) =>
    retention?.maxAgeMs !== undefined
      ? undefined
      : [{ name: 'au_w', sql: `INSERT INTO ${table('audit')} (${COLUMNS}) SELECT w.pos, w.ms, ${s.actor}, ${s.op}, ${s.type}, ${s.ns}, ${s.key}, w.rev, ${s.meta}, ${s.tx} FROM w` }];
}
