/** The versions view in PostgreSQL: tables `versions` (value as codec text, NULL when deleted) and `drops`. */
import { encode } from '../../../core/codec.js';
import { encodeValue } from '../encoded.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { PostgresViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { ms } from '../keys.js';
import { canPlanBlind, keyedBatch, planVersions, touchedKeys } from '../plan.js';
import type { KvEntry, VersionEntry, VersionsRetentionOptions } from '../rows.js';
import type { PostgresTables } from '../sql-statements.js';
import type { VersionsReader, VersionTarget } from '../types.js';
import { currentFromRow } from './memory.js';
import { versionFromRow } from './sqlite.js';
import type { FusedBuilder } from '../../storage/postgres-fused.js';
import { retentionOf } from '../rows.js';

const COLUMNS = 'namespace, key, version, value, deleted, metadata, expires_at, time, actor, operation, position';

/** Create the versions tables of a generation. */
export async function setupVersionsPostgres(ctx: PostgresViewContext, byTime = false): Promise<void> {
  const t = ctx.table('versions');
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${t} (
    namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, version bigint NOT NULL, value text, deleted boolean NOT NULL,
    metadata text, expires_at bigint, time bigint NOT NULL, actor text, operation text NOT NULL, position bigint NOT NULL,
    PRIMARY KEY (namespace, key, version))`);
  // the time index serves retention by age only (one index less to write per event without it)
  if (byTime) await ctx.query(`CREATE INDEX IF NOT EXISTS ${ctx.name('versions_time')} ON ${t} (time)`);
  await ctx.query(`CREATE TABLE IF NOT EXISTS ${ctx.table('drops')} (namespace text COLLATE "C" PRIMARY KEY, position bigint NOT NULL)`);
}

/** Fold a batch into the PostgreSQL versions view: one read, then one write statement (two when namespaces were dropped). */
export async function applyVersionsPostgres(events: readonly RecordedEvent[], ctx: PostgresViewContext, retention?: VersionsRetentionOptions): Promise<void> {
  const t = ctx.table('versions');
  const d = ctx.table('drops');
  const batch = keyedBatch(events);
  const keys = touchedKeys(batch);
  const current = canPlanBlind(batch) ? undefined : new Map<string, KvEntry>();
  if (current && keys.length > 0) {
    const { rows } = await ctx.query(
      `SELECT v.*, dr.position AS dropped FROM unnest($1::text[], $2::text[]) AS k(ns, key)
       CROSS JOIN LATERAL (SELECT ${COLUMNS} FROM ${t} WHERE namespace = k.ns AND key = k.key ORDER BY version DESC LIMIT 1) AS v
       LEFT JOIN ${d} AS dr ON dr.namespace = v.namespace`,
      [keys.map((k) => k.namespace), keys.map((k) => k.key)],
    );
    for (const r of rows) {
      const c = currentFromRow(versionFromRow(r), r.dropped === null ? undefined : Number(r.dropped));
      if (c) current.set(entryId(r.namespace, r.key), c);
    }
  }
  const plan = planVersions(batch, current, retention);
  if (plan.purges.length > 0) {
    await ctx.query(`DELETE FROM ${t} WHERE (namespace, key) IN (SELECT * FROM unnest($1::text[], $2::text[]))`, [plan.purges.map((x) => x.namespace), plan.purges.map((x) => x.key)]);
  }
  const r = plan.inserts;
  if (r.length > 0) {
    // queued: sent with the other views' writes (the purges above went first)
    ctx.defer(
      // a row planned blind takes its metadata from the key's newest row, if that row is live
      `INSERT INTO ${t} (${COLUMNS})
       SELECT x.ns, x.k, x.ver, x.v, x.del, CASE WHEN x.km THEN (SELECT CASE WHEN NOT w.deleted AND w.position > coalesce((SELECT position FROM ${d} WHERE namespace = w.namespace), 0) THEN w.metadata END
         FROM ${t} AS w WHERE w.namespace = x.ns AND w.key = x.k ORDER BY w.version DESC LIMIT 1) ELSE x.m END, x.e, x.time, x.actor, x.op, x.p
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bool[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::bool[])
         AS x(ns, k, ver, v, del, m, e, time, actor, op, p, km)`,
      [
        r.map((x) => x.namespace), r.map((x) => x.key), r.map((x) => x.version), r.map((x) => (x.deleted ? null : encodeValue(x.value))), r.map((x) => x.deleted),
        r.map((x) => (x.metadata === null ? null : encode(x.metadata))), r.map((x) => x.expiresAt), r.map((x) => x.time), r.map((x) => x.actor), r.map((x) => x.operation), r.map((x) => x.position),
        r.map((x) => x.keepMetadata === true),
      ],
    );
  }
  if (plan.drops.length > 0) {
    // queued after the inserts, in the same statement: the kept metadata above reads the drops
    // before this batch (a row kept blind precedes every drop of its namespace in the batch)
    ctx.defer(`INSERT INTO ${d} (namespace, position) SELECT * FROM unnest($1::text[], $2::bigint[]) ON CONFLICT (namespace) DO UPDATE SET position = excluded.position`, [
      plan.drops.map((x) => x.namespace), plan.drops.map((x) => x.position),
    ]);
  }
  if (plan.trims.length > 0) {
    await ctx.query(`DELETE FROM ${t} AS v USING unnest($1::text[], $2::text[], $3::bigint[]) AS x(ns, key, up) WHERE v.namespace = x.ns AND v.key = x.key AND v.version <= x.up`, [
      plan.trims.map((x) => x.namespace), plan.trims.map((x) => x.key), plan.trims.map((x) => x.upTo),
    ]);
  }
  const older = `time < $1 AND version < (SELECT max(w.version) FROM ${t} AS w WHERE w.namespace = v.namespace AND w.key = v.key)`;
  for (const a of plan.age) {
    if (a.namespace !== null) await ctx.query(`DELETE FROM ${t} AS v WHERE namespace = $2 AND ${older}`, [a.before, a.namespace]);
    else await ctx.query(`DELETE FROM ${t} AS v WHERE NOT (namespace = ANY($2::text[])) AND ${older}`, [a.before, a.except]);
  }
}

/** Reads of the PostgreSQL versions view. */
export class PostgresVersionsReader implements VersionsReader {
  constructor(private readonly storage: PostgresTables, private readonly name = 'kv_versions') {}

  private async rows(sql: (t: string) => string, params: unknown[]): Promise<VersionEntry[]> {
    const t = await this.storage.table(this.name, 'versions');
    return t === undefined ? [] : (await this.storage.query(sql(t), params)).rows.map(versionFromRow);
  }

  async versions(namespace: string, key: string, o: { limit?: number | undefined; before?: number | undefined } = {}): Promise<VersionEntry[]> {
    return this.rows((t) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = $1 AND key = $2 AND version < $3 ORDER BY version DESC LIMIT $4`, [
      namespace, key, o.before ?? Number.MAX_SAFE_INTEGER, o.limit ?? null,
    ]);
  }

  async at(namespace: string, key: string, target: VersionTarget): Promise<VersionEntry | undefined> {
    const col = 'version' in target ? 'version' : 'time';
    const v = 'version' in target ? target.version : ms(target.time);
    const [r] = await this.rows((t) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = $1 AND key = $2 AND ${col} <= $3 ORDER BY version DESC LIMIT 1`, [namespace, key, v]);
    return r;
  }

  async all(): Promise<VersionEntry[]> {
    return this.rows((t) => `SELECT ${COLUMNS} FROM ${t}`, []);
  }
}

/**
 * The fused form of a `kv.set` (see storage/postgres-fused.ts), without retention only (trims read
 * the view). A set without metadata keeps the key's: the KV upsert's RETURNING gives it (the
 * newest live row's metadata, which is the KV row's), read under the KV row's lock. `byTime`: some
 * retention by age is configured.
 */
/** The fused form of a `kv.deleted` (see storage/postgres-fused.ts): the version row of the deletion (no value, no metadata); none with retention, as for a set. */
export function fusedVersionsDeleted(retention: VersionsRetentionOptions | undefined, byTime: boolean): FusedBuilder {
  return (s, table) => {
    if (byTime || retentionOf(retention, s.event.namespace).maxVersions !== undefined) return undefined;
    return [{
      name: 'ver_d',
      sql: `INSERT INTO ${table('versions')} (${COLUMNS}) SELECT ${s.ns}, ${s.key}, w.rev, NULL, true, NULL, NULL, w.ms, ${s.actor}, ${s.op}, w.pos FROM w`,
    }];
  };
}

/** The fused form of a hinted `kv.patched` or `kv.incremented`: the version row of the value the KV view wrote (`kv_u`, with the metadata and expiry it kept). */
export function fusedVersionsHinted(retention: VersionsRetentionOptions | undefined, byTime: boolean): FusedBuilder {
  return (s, table) => {
    if (byTime || retentionOf(retention, s.event.namespace).maxVersions !== undefined) return undefined;
    if (s.hintVersion === undefined || !s.defined.has('kv_u')) return undefined;
    return [{
      name: 'ver_h',
      sql: `INSERT INTO ${table('versions')} (${COLUMNS}) SELECT ${s.ns}, ${s.key}, w.rev, ${s.value}, false, u.metadata, u.expires_at, w.ms, ${s.actor}, ${s.op}, w.pos FROM w, kv_u AS u`,
    }];
  };
}

export function fusedVersionsSet(retention: VersionsRetentionOptions | undefined, byTime: boolean): FusedBuilder {
  return (s, table) => {
    if (byTime || retentionOf(retention, s.event.namespace).maxVersions !== undefined) return undefined;
    if (s.keepMeta && !s.defined.has('kv_w')) return undefined;
    return [{
      name: 'ver_w',
      sql: `INSERT INTO ${table('versions')} (${COLUMNS})
        SELECT ${s.ns}, ${s.key}, w.rev, ${s.value}, false, ${s.keepMeta ? '(SELECT metadata FROM kv_w)' : s.meta}, ${s.expires}, w.ms, ${s.actor}, ${s.op}, w.pos FROM w`,
    }];
  };
}
