/**
 * The versions view in SQLite: table `versions` (one row per key event but purges; value as codec
 * text, NULL when deleted) and table `drops` (position of each namespace's last drop).
 */
import { decode, encode } from '../../../core/codec.js';
import { encodeValue } from '../encoded.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { SqliteViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { ms } from '../keys.js';
import { canPlanBlind, keyedBatch, planVersions, touchedKeys } from '../plan.js';
import type { KvEntry, VersionEntry, VersionsRetentionOptions } from '../rows.js';
import { stmt, textsOf, type SqliteTables } from '../sql-statements.js';
import type { VersionsReader, VersionTarget } from '../types.js';
import { currentFromRow } from './memory.js';

const COLUMNS = 'namespace, key, version, value, deleted, metadata, expires_at, time, actor, operation, position';

/**
 * Create the versions tables of a generation. A rowid table on purpose: its wide rows are appended
 * in order and only the narrow key index takes random inserts (WITHOUT ROWID scattered the rows:
 * a rebuild's commits wrote more pages, COMMIT went from 11% to 18% of its CPU profile).
 */
export function setupVersionsSqlite(ctx: SqliteViewContext, byTime = false): void {
  const t = ctx.table('versions');
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${t} (
    namespace TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value TEXT, deleted INTEGER NOT NULL, metadata TEXT,
    expires_at INTEGER, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, position INTEGER NOT NULL,
    PRIMARY KEY (namespace, key, version)) STRICT`);
  // the time index serves retention by age only (one index less to write per event without it)
  if (byTime) ctx.db.exec(`CREATE INDEX IF NOT EXISTS ${ctx.table('versions_time')} ON ${t} (time)`);
  ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${ctx.table('drops')} (namespace TEXT PRIMARY KEY, position INTEGER NOT NULL) STRICT`);
  // a rebuild's new, empty table holds no metadata: say so (see NO_METADATA)
  if (ctx.phase === 'rebuild') ctx.db.exec(`INSERT INTO ${ctx.table('drops')} (namespace, position) SELECT '${NO_METADATA}', ${MARK} WHERE NOT EXISTS (SELECT 1 FROM ${t}) ON CONFLICT (namespace) DO NOTHING`);
}

/**
 * The mark of a rebuild's generation that holds no metadata yet: a row of the drops table under a
 * name no namespace can have (namespaces never contain `*`) and a position no event has (-1), so
 * an event can never write it (a forged drop of that name would only change its position, and
 * the mark would be gone). A set without metadata keeps the key's metadata, which a row planned
 * blind reads from the key's newest row (a subquery in the INSERT, which also makes SQLite stage
 * the row in a temporary table: ~2 µs of a rebuild's ~20 µs per event); while the mark is there,
 * that metadata is known to be null and a plain INSERT writes it.
 *
 * Only rebuilds write and read it: a rebuild's generation is written by the rebuild that created
 * it alone (a new rebuild takes a new generation; the old one's commits are fenced off), so no
 * process without this code can write metadata past the mark. The setup of that empty table writes
 * it, the first row with metadata removes it, and after the switch it is never read again.
 */
const NO_METADATA = '*no-metadata';
const MARK = -1;

/** A stored row as a VersionEntry. */
export function versionFromRow(r: any): VersionEntry {
  return {
    namespace: r.namespace,
    key: r.key,
    version: Number(r.version),
    value: r.value === null ? undefined : decode(r.value),
    deleted: Boolean(r.deleted),
    metadata: r.metadata === null ? null : decode(r.metadata),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    time: Number(r.time),
    actor: r.actor,
    operation: r.operation,
    position: Number(r.position),
  };
}

/** Fold a batch into the SQLite versions view. */
export function applyVersionsSqlite(events: readonly RecordedEvent[], ctx: SqliteViewContext, retention?: VersionsRetentionOptions): void {
  const t = ctx.table('versions');
  const q = textsOf(applyTexts, t, () => versionsApplyTexts(t, ctx.table('drops')));
  const db = ctx.db;
  const batch = keyedBatch(events);
  let current: Map<string, KvEntry> | undefined;
  if (!canPlanBlind(batch)) {
    current = new Map();
    const newest = stmt(db, q.newest);
    const drop = stmt(db, q.drop).pluck();
    for (const k of touchedKeys(batch)) {
      const r = newest.get(k.namespace, k.key);
      const c = r && currentFromRow(versionFromRow(r), drop.get(k.namespace) as number | undefined);
      if (c) current.set(entryId(k.namespace, k.key), c);
    }
  }
  const plan = planVersions(batch, current, retention);
  if (plan.purges.length > 0) {
    const purge = stmt(db, q.purge);
    for (const p of plan.purges) purge.run(p.namespace, p.key);
  }
  let ins: ReturnType<typeof stmt> | undefined;
  let insKept: ReturnType<typeof stmt> | undefined;
  // the mark (rebuilds only), read once: while it was there at the start of the batch, every row
  // kept blind here takes null (its key's newest row is older and has none, or is such a row of this batch)
  const rebuild = ctx.phase === 'rebuild';
  let noMetadata: boolean | undefined;
  let unmarked = false;
  for (const r of plan.inserts) {
    const value = r.deleted ? null : encodeValue(r.value);
    if (r.keepMetadata) noMetadata ??= rebuild && stmt(db, q.marked).get() !== undefined;
    else if (r.metadata !== null && !unmarked && rebuild) (unmarked = true), stmt(db, q.unmark).run();
    if (r.keepMetadata && !noMetadata) (insKept ??= stmt(db, q.insertKept)).run(r.namespace, r.key, r.version, value, r.deleted ? 1 : 0, r.namespace, r.key, r.expiresAt, r.time, r.actor, r.operation, r.position);
    else (ins ??= stmt(db, q.insert)).run(r.namespace, r.key, r.version, value, r.deleted ? 1 : 0, r.keepMetadata || r.metadata === null ? null : encode(r.metadata), r.expiresAt, r.time, r.actor, r.operation, r.position);
  }
  // the drops are recorded after the inserts: a row kept blind precedes every drop of its
  // namespace in this batch (a set after one is planned from it), so its kept metadata must be
  // judged against the drops before the batch
  if (plan.drops.length > 0) {
    const setDrop = stmt(db, q.setDrop);
    for (const x of plan.drops) setDrop.run(x.namespace, x.position);
  }
  if (plan.trims.length > 0) {
    const trim = stmt(db, q.trim);
    for (const x of plan.trims) trim.run(x.namespace, x.key, x.upTo);
  }
  for (const a of plan.age) {
    if (a.namespace !== null) stmt(db, q.ageIn).run(a.namespace, a.before);
    else stmt(db, q.ageExcept).run(JSON.stringify(a.except), a.before);
  }
}

/** The statements applying batches to the versions table `t` and the drops table `d` of a generation. */
function versionsApplyTexts(t: string, d: string) {
  // a row planned blind takes its metadata from the key's newest row, if that row is live
  const kept = `(SELECT iif(w.deleted = 0 AND w.position > coalesce((SELECT position FROM ${d} WHERE namespace = w.namespace), 0), w.metadata, NULL)
    FROM ${t} AS w WHERE w.namespace = ? AND w.key = ? ORDER BY w.version DESC LIMIT 1)`;
  const older = `time < ? AND version < (SELECT max(w.version) FROM ${t} AS w WHERE w.namespace = ${t}.namespace AND w.key = ${t}.key)`;
  return {
    newest: `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key = ? ORDER BY version DESC LIMIT 1`,
    drop: `SELECT position FROM ${d} WHERE namespace = ?`,
    purge: `DELETE FROM ${t} WHERE namespace = ? AND key = ?`,
    insert: `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    insertKept: `INSERT INTO ${t} (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ${kept}, ?, ?, ?, ?, ?)`,
    marked: `SELECT 1 FROM ${d} WHERE namespace = '${NO_METADATA}' AND position = ${MARK}`,
    unmark: `DELETE FROM ${d} WHERE namespace = '${NO_METADATA}' AND position = ${MARK}`,
    setDrop: `INSERT INTO ${d} (namespace, position) VALUES (?, ?) ON CONFLICT (namespace) DO UPDATE SET position = excluded.position`,
    trim: `DELETE FROM ${t} WHERE namespace = ? AND key = ? AND version <= ?`,
    ageIn: `DELETE FROM ${t} WHERE namespace = ? AND ${older}`,
    ageExcept: `DELETE FROM ${t} WHERE namespace NOT IN (SELECT value FROM json_each(?)) AND ${older}`,
  };
}
const applyTexts = new Map<string, ReturnType<typeof versionsApplyTexts>>();

/** Reads of the SQLite versions view. */
export class SqliteVersionsReader implements VersionsReader {
  constructor(private readonly storage: SqliteTables, private readonly name = 'kv_versions') {}

  private async rows(sql: (t: string) => string, params: unknown[]): Promise<VersionEntry[]> {
    const t = await this.storage.table(this.name, 'versions');
    return t === undefined ? [] : stmt(this.storage.db, sql(t)).all(...params).map(versionFromRow);
  }

  async versions(namespace: string, key: string, o: { limit?: number | undefined; before?: number | undefined } = {}): Promise<VersionEntry[]> {
    const params: unknown[] = [namespace, key, o.before ?? Number.MAX_SAFE_INTEGER, o.limit ?? -1];
    return this.rows((t) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key = ? AND version < ? ORDER BY version DESC LIMIT ?`, params);
  }

  async at(namespace: string, key: string, target: VersionTarget): Promise<VersionEntry | undefined> {
    const byVersion = 'version' in target;
    const params = [namespace, key, byVersion ? target.version : ms(target.time)];
    const [r] = await this.rows((t) => `SELECT ${COLUMNS} FROM ${t} WHERE namespace = ? AND key = ? AND ${byVersion ? 'version' : 'time'} <= ? ORDER BY version DESC LIMIT 1`, params);
    return r;
  }

  async all(): Promise<VersionEntry[]> {
    return this.rows((t) => `SELECT ${COLUMNS} FROM ${t}`, []);
  }
}
