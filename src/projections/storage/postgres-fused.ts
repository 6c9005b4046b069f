/**
 * Fused inline appends on PostgreSQL: the commonest inline appends, one `kv.set`, `kv.deleted`,
 * `kv.patched` or `kv.incremented` event with the built-in views in the log's schema, are written in
 * ONE statement: the append function, the control rows (checkpoints) and the views' writes, as
 * data-modifying CTEs of the append's own statement. The usual path sends BEGIN, the append, the control UPDATE, the views' writes and
 * COMMIT (5 round trips, each statement planned apart); the fused one sends one, with scalar
 * parameters (a generic plan is an index lookup).
 *
 * Exactness: the statement folds the same event the same way as the views' `apply` (the property
 * tests compare inline views with rebuilt ones, which never take this path). Rows read before the
 * event's stream lock was taken would be stale (the statement's snapshot is older than the lock), so
 * nothing is read from a snapshot: the kept metadata and creation time come from the KV row that
 * `ON CONFLICT DO UPDATE` locked (the newest committed one), and the versions row takes the kept
 * metadata from that upsert's RETURNING. A delete removes the KV row, writes its version and audit
 * rows, and removes the relations naming the key (the relations view's DELETE returns them for
 * their history rows). A patch or an increment needs the key's value, which SQL cannot fold: it is
 * fused only when the Store hands over the value it folded from the row it read (FoldHint below),
 * and the KV view writes it only where the row is still at that version. Cases needing a read (retention, other event types, other
 * projections without a fused form) take the usual path.
 *
 * A lone event that no projection of the group handles (an agent's own event on a log that also
 * hosts a Store, or any type a user projection ignores) is fused the same way with the control rows
 * alone: the usual path would send BEGIN, the append, the control UPDATE and COMMIT for it.
 *
 * Generations: the statement names the tables of the generations the last usual inline append
 * found active (learned per storage). It locks and checks the control rows itself; if one moved (a
 * rebuild switched, a version changed) it raises `DG001` before committing anything, and the log
 * redoes the append the usual way, which learns the new generations.
 */
import { decode, encode } from '../../core/codec.js';
import type { NewEvent, RecordedEvent } from '../../streams/event-log.js';
import { step, type KvEntry } from '../views/rows.js';
import { KEYED, toKeyedEvent, type KeyedEvent } from '../keyed-events.js';
import { handlesType, type Projection } from '../projection.js';
import { encodeValue } from '../views/encoded.js';
import { jsonbSafe } from '../views/kv/postgres.js';

/** SQLSTATE raised by the fused statement when a control row no longer matches the generations it names. */
export const INLINE_MOVED = 'DG001';

/** SQLSTATE raised by a fused patch or increment whose KV row is no longer at the version its value was folded from. */
export const HINT_MISSED = 'DG002';

/** DDL of the function raising {@link HINT_MISSED} (in the views' schema). */
export function hintMissedFunctionSql(schema: string): string {
  return `CREATE OR REPLACE FUNCTION "${schema}".dgent_hint_missed() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN RAISE EXCEPTION 'dgent: the key moved since its value was folded for the append' USING ERRCODE = '${HINT_MISSED}'; END $fn$`;
}

/**
 * A lone `kv.patched` or `kv.incremented` can be fused only with the key's value after it, which SQL
 * cannot fold: the Store folds it (views/rows.ts `step`, the views' own fold) from the KV row it read
 * at `version`, and hands it over with {@link hintFold}. The fused statement writes that value only
 * if the row is still at `version` (under the row lock, so the newest committed row), which makes it
 * the fold of the log; else it raises {@link HINT_MISSED} and the append is redone the usual way.
 */
export interface FoldHint {
  /** the KV row's version the value was folded from */
  readonly version: number;
  /** the key's value after the event (folded on first use) */
  value(): unknown;
  /** set when the fused statement stored the event with this value */
  committed: boolean;
}

const hints = new WeakMap<object, FoldHint>();

/** Attach a fold hint to the event object about to be appended (see {@link FoldHint}). */
export function hintFold(event: object, version: number, fold: () => unknown): FoldHint {
  let done = false;
  let value: unknown;
  const h: FoldHint = {
    version,
    value: () => {
      if (!done) {
        value = fold(); // a fold that throws throws again on the next call
        done = true;
      }
      return value;
    },
    committed: false,
  };
  hints.set(event, h);
  return h;
}

/**
 * Attach to `event` (a lone patch or increment about to be appended to key stream `stream`) the key's
 * value after it, folded by the views' own fold (views/rows.ts `step`) from `row`, the KV row read.
 * The fold, not a recipe's result: they can differ in key order (a key deleted and set again), and
 * the views hold the fold. Folded only if a fused statement asks for it.
 */
export function hintFoldFrom(event: NewEvent, stream: string, row: KvEntry): FoldHint {
  return hintFold(event, row.version, () => {
    const recorded: RecordedEvent = { id: 'fold', stream, revision: row.version + 1, position: 0, type: event.type, data: event.data, metadata: event.metadata ?? {}, time: new Date(0) };
    const k = toKeyedEvent(recorded);
    const after = k === undefined ? undefined : step(row, k);
    if (after === undefined) throw new Error(`no value after ${event.type}`);
    return after.value;
  });
}

/** Remove the fold hint of an event object (a retry that has no row to fold from). */
export function dropFoldHint(event: object): void {
  hints.delete(event);
}

/**
 * DDL of the functions a fused delete writes through (in the views' schema). A statement's CTEs all
 * read its snapshot, taken before the append waited for the stream's lock and the control rows:
 * a row that a racing transaction created and committed meanwhile (a set of the key, a relate
 * naming it from its own stream) would be missed by a DELETE there. A VOLATILE function's queries
 * take a snapshot of their own when they run, after those waits, as the usual path's statements do.
 */
export function fusedDeleteFunctionsSql(schema: string): string[] {
  const q = `"${schema}"`;
  return [
    `CREATE OR REPLACE FUNCTION ${q}.dgent_fused_kv_delete(t regclass, p_ns text, p_key text) RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE n integer;
BEGIN
  EXECUTE format('DELETE FROM %s WHERE namespace = $1 AND key = $2', t) USING p_ns, p_key;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $fn$`,
    `CREATE OR REPLACE FUNCTION ${q}.dgent_fused_rel_delete(r regclass, h regclass, p_ns text, p_key text, p_pos bigint, p_op text, p_type text, p_ms bigint, p_actor text)
RETURNS integer LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE n integer;
BEGIN
  EXECUTE format('WITH d AS (DELETE FROM %s WHERE (sns = $1 AND skey = $2) OR (ons = $1 AND okey = $2) RETURNING sns, skey, predicate, ons, okey, version)
    INSERT INTO %s (sns, skey, predicate, ons, okey, position, version, related, operation, type, time, actor)
    SELECT d.sns, d.skey, d.predicate, d.ons, d.okey, $3, d.version, false, $4, $5, $6, $7 FROM d', r, h)
    USING p_ns, p_key, p_pos, p_op, p_type, p_ms, p_actor;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $fn$`,
  ];
}

/** DDL of the function raising {@link INLINE_MOVED} (in the views' schema). */
export function inlineMovedFunctionSql(schema: string): string {
  return `CREATE OR REPLACE FUNCTION "${schema}".dgent_inline_moved() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $fn$
BEGIN RAISE EXCEPTION 'dgent: an inline view changed generation or version during the append' USING ERRCODE = '${INLINE_MOVED}'; END $fn$`;
}

/**
 * The parameters of one fused `kv.set` or `kv.deleted`, as SQL placeholders (already cast) shared by
 * every view's writes, and `w`: the CTE holding the stored event's `rev`, `pos` and `ms` (one row
 * when the event was stored and every control row matched; no row on a revision conflict). For a
 * delete, the value, jsonb, metadata and expiry are NULL literals.
 */
export interface FusedSet {
  event: KeyedEvent;
  ns: string;
  key: string;
  value: string;
  /** the value as jsonb, or NULL::jsonb when jsonb cannot hold it */
  jsonb: string;
  meta: string;
  /** the set carries no metadata: the key keeps its stored one */
  keepMeta: boolean;
  /** a patch or increment (see FoldHint): the placeholder of the KV row's version its value was folded from */
  hintVersion?: string | undefined;
  /** the views' schema, quoted (for its functions) */
  schema: string;
  expires: string;
  actor: string;
  op: string;
  type: string;
  tx: string;
  /** CTE names defined by the views before this one (e.g. `kv_w`, the KV upsert RETURNING metadata) */
  defined: ReadonlySet<string>;
}

/**
 * A view's fused writes: named CTEs, or undefined when this event needs the usual path. A CTE that
 * only SELECTs (a call of a writing function) runs only if read: `read` makes the statement read it.
 */
export type FusedBuilder = (s: FusedSet, table: (local: string) => string) => { name: string; sql: string; read?: boolean }[] | undefined;

/** The event types a lone keyed event can be fused for (besides types no projection handles); patches and increments with a FoldHint only. */
const FUSABLE = [KEYED.set, KEYED.deleted, KEYED.patched, KEYED.incremented] as const;
type FusableType = (typeof FUSABLE)[number];

/** A view's fused forms, per event type it has one for. */
export type FusedBuilders = Partial<Record<FusableType, FusedBuilder>>;

const builders = new WeakMap<Projection<any>, { order: number; forms: FusedBuilders }>();

/**
 * Register the fused forms of a built-in view's folds of `kv.set` and `kv.deleted` (`order`: KV
 * first, it defines `kv_w`, which the versions row of a set reads).
 */
export function registerFused(projection: Projection<any>, order: number, forms: FusedBuilders): Projection<any> {
  builders.set(projection, { order, forms });
  return projection;
}

/** What a fused plan gives the log: CTEs after `g`, and their values numbered from `$<base + 1>`. */
export interface FusedPlan {
  ctes: string;
  values: unknown[];
  /** an expression the statement must select (so that a CTE no other one reads is evaluated) */
  select?: string;
  /** the fold hint the statement writes, if any */
  hint?: FoldHint;
}

/** Reads the hinted row's check (see FoldHint). */
const HINT_CHECKED = '(SELECT ok FROM hint_chk)';

/** Reads `w`, so that its check runs in a statement no view CTE reads it in. */
const CHECKED = '(SELECT count(*) FROM w)';

/** The fusion of one inline group on one PostgreSQL view storage (see the file comment). */
export class PostgresFusion {
  /** appends written by the fused statement, and fused statements found stale (redone the usual way) */
  readonly counts = { fused: 0, stale: 0 };
  /** projection name -> generation the last usual inline append found active at the code's version */
  private readonly learned = new Map<string, number>();
  /** The CTEs per shape of append (see plan), and what the statement must select; null: that shape takes the usual path */
  private readonly texts = new Map<string, { ctes: string; select: string | undefined } | null>();
  private readonly names: string[];
  private readonly versions: number[];
  /** per fusable type: the projections handling it with their fused forms, in order (undefined: one has none) */
  private readonly ordered = new Map<string, { projection: Projection<any>; build: FusedBuilder }[] | undefined>();
  /** every name is a plain identifier (see possible) */
  private readonly plain: boolean;
  /** event type -> whether no projection of the group handles it (bounded like the texts) */
  private readonly unhandled = new Map<string, boolean>();

  constructor(
    private readonly schema: string,
    private readonly projections: readonly Projection<any>[],
    private readonly tableName: (projection: string, generation: number, local: string) => string,
  ) {
    this.names = projections.map((p) => p.name);
    this.versions = projections.map((p) => p.version);
    // the names go into the statement's text as literals: only plain identifiers (defineProjection's rule) fuse
    this.plain = this.names.length > 0 && this.names.every((n) => /^[a-z][a-z0-9_]*$/.test(n));
    for (const type of FUSABLE) {
      const handling = projections.filter((p) => handlesType(p, type)).map((p) => ({ projection: p, b: builders.get(p), build: builders.get(p)?.forms[type] }));
      this.ordered.set(type, this.plain && handling.length > 0 && handling.every((x) => x.build !== undefined)
        ? handling.sort((a, b) => a.b!.order - b.b!.order).map((x) => ({ projection: x.projection, build: x.build! }))
        : undefined);
    }
  }

  /**
   * Whether the group can ever fuse: its names are plain identifiers (they go into the text). A
   * lone `kv.set` fuses when every projection handling it has a fused form; a lone event that none
   * of them handles (an agent's own event on a log that also hosts a Store) fuses its control rows.
   */
  get possible(): boolean {
    return this.plain;
  }

  /** The usual inline path found these active generations (only rows at the code's version count). */
  learn(rows: readonly { name: string; generation: number; version: number }[]): void {
    for (const p of this.projections) {
      const r = rows.find((x) => x.name === p.name);
      if (!r) continue; // another group's append
      if (r.version === p.version) this.learned.set(p.name, r.generation);
      else this.learned.delete(p.name);
    }
  }

  /** The fused statement moved on: forget the generations (the retried usual append learns them again). */
  forget(): void {
    this.learned.clear();
  }

  /**
   * Whether `e` (an error of the fused statement) means its plan was stale: DG001, or a table since
   * dropped; or DG002, a hinted key that moved (the generations are still good).
   */
  stale(e: unknown): boolean {
    const code = (e as { code?: unknown })?.code;
    if (code === HINT_MISSED) {
      this.counts.stale++;
      return true;
    }
    if (code === INLINE_MOVED || code === '42P01') {
      this.counts.stale++;
      this.forget();
      return true;
    }
    return false;
  }

  /** The fused statement committed (`stored`: it stored the event, so a hint's value is the key's). */
  done(plan?: FusedPlan, stored = false): void {
    this.counts.fused++;
    if (plan?.hint && stored) plan.hint.committed = true;
  }

  /** The CTEs for one appended event (in stream `stream`), or undefined for the usual path. */
  plan(stream: string, e: { id: string; type: string; dataJson: string; metaJson: string }, base: number, input?: object): FusedPlan | undefined {
    if (!this.plain) return undefined;
    const gens: number[] = [];
    for (const n of this.names) {
      const g = this.learned.get(n);
      if (g === undefined) return undefined;
      gens.push(g);
    }
    if (this.handledByNone(e.type)) {
      // nothing to fold: the control rows alone, checked like a set's (the statement reads `w`)
      const shape = `none|${gens.join(',')}`;
      let t = this.texts.get(shape);
      if (!t) {
        t = { ctes: this.control(gens).join(',\n'), select: CHECKED };
        if (this.texts.size >= 256) this.texts.clear();
        this.texts.set(shape, t);
      }
      return { ctes: t.ctes, values: [], select: CHECKED };
    }
    const ordered = this.ordered.get(e.type);
    if (!ordered) return undefined;
    const hinted = e.type === KEYED.patched || e.type === KEYED.incremented;
    const hint = hinted && input ? hints.get(input) : undefined;
    if (hinted && !hint) return undefined;
    let k: KeyedEvent | undefined;
    try {
      const r: RecordedEvent = { id: e.id, stream, revision: 1, position: 1, type: e.type, data: decode(e.dataJson), metadata: decode<Record<string, unknown>>(e.metaJson), time: new Date(0) };
      k = toKeyedEvent(r);
    } catch {
      return undefined; // a malformed event: the usual path reports it
    }
    if (!k || k.type !== e.type || k.key === null) return undefined;
    const values: unknown[] = [];
    const add = (v: unknown, cast: string) => (values.push(v), `$${base + values.length}::${cast}`);
    // the value after the event: a set's own, or the one folded for a patch or increment (a delete has none)
    let valueText: string | undefined;
    try {
      valueText = k.type === KEYED.set ? encodeValue(k.data.value) : hint ? encodeValue(hint.value()) : undefined;
    } catch {
      return undefined; // the usual path reports it
    }
    const set = k.type === KEYED.set ? k : undefined;
    const value = valueText === undefined ? 'NULL::text' : add(valueText, 'text');
    // (placeholders are numbered in the order of this literal's properties)
    const s: FusedSet = {
      event: k,
      ns: add(k.namespace, 'text'),
      key: add(k.key, 'text'),
      value,
      jsonb: valueText !== undefined && jsonbSafe(valueText) ? `${value}::jsonb` : 'NULL::jsonb',
      meta: set ? add(set.data.metadata === undefined ? null : encode(set.data.metadata), 'text') : 'NULL::text',
      keepMeta: set ? set.data.metadata === undefined : false,
      expires: set ? add(set.data.expiresAt ?? null, 'bigint') : 'NULL::bigint',
      hintVersion: hint ? add(hint.version, 'bigint') : undefined,
      actor: add(k.actor, 'text'),
      op: add(k.operation, 'text'),
      type: add(k.type, 'text'),
      tx: add(k.tx, 'text'),
      schema: `"${this.schema}"`,
      defined: new Set<string>(),
    };
    // the text depends on the event type, the generations, the placeholders' numbering, which forms
    // the views take (jsonb or not, kept metadata or not) and the namespace (versions retention):
    // built once per such shape (building and hashing ~2.5 KB per append was ~5% of a Store.set's CPU)
    const shape = `${k.type}|${gens.join(',')}|${base}|${s.jsonb === 'NULL::jsonb' ? 0 : 1}|${s.keepMeta ? 1 : 0}|${k.namespace}`;
    let t = this.texts.get(shape);
    if (t === undefined) {
      t = this.ctes(s, gens, ordered);
      if (this.texts.size >= 256) this.texts.clear();
      this.texts.set(shape, t);
    }
    if (t === null) return undefined;
    const plan: FusedPlan = { ctes: t.ctes, values };
    if (t.select !== undefined) plan.select = t.select;
    if (hint) plan.hint = hint;
    return plan;
  }

  /** Whether no projection of the group handles events of `type`. */
  private handledByNone(type: string): boolean {
    let none = this.unhandled.get(type);
    if (none === undefined) {
      none = this.projections.every((p) => !handlesType(p, type));
      if (this.unhandled.size >= 256) this.unhandled.clear();
      this.unhandled.set(type, none);
    }
    return none;
  }

  /** The CTEs of one shape of `kv.set` or `kv.deleted` (see plan), or null when a view has no fused form for it. */
  private ctes(s: FusedSet, gens: readonly number[], ordered: readonly { projection: Projection<any>; build: FusedBuilder }[]): { ctes: string; select: string | undefined } | null {
    const ctes = this.control(gens);
    const defined = s.defined as Set<string>;
    const read: string[] = [];
    for (const { projection, build } of ordered) {
      const gen = gens[this.names.indexOf(projection.name)]!;
      const parts = build(s, (local) => `"${this.schema}"."${this.tableName(projection.name, gen, local)}"`);
      if (!parts) return null;
      for (const p of parts) {
        if (defined.has(p.name)) return null; // two views of one kind in a group: the usual path
        ctes.push(`${p.name} AS (${p.sql})`);
        defined.add(p.name);
        if (p.read) read.push(`(SELECT count(*) FROM ${p.name})`);
      }
    }
    if (s.hintVersion !== undefined) {
      // the hinted value is the fold only if the KV view updated the row at the hinted version
      if (!defined.has('kv_u')) return null;
      ctes.push(`hint_chk AS (SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM w) OR EXISTS (SELECT 1 FROM kv_u) THEN 1 ELSE CASE WHEN "${this.schema}".dgent_hint_missed() THEN 1 END END AS ok)`);
      read.push(HINT_CHECKED);
    }
    return { ctes: ctes.join(',\n'), select: read.length === 0 ? undefined : read.join(' + ') };
  }

  /**
   * The control CTEs `l`, `c` and `w` of a fused statement: lock the group's control rows (in name
   * order), mark the event seen and advance the checkpoints at the code's version, and `w`: the
   * stored event, or DG001 when a row no longer names these generations at these versions.
   */
  private control(gens: readonly number[]): string[] {
    const ctl = `"${this.schema}".dgent_projections`;
    // names (validated identifiers), versions and generations are written into the text as literals:
    // the control rows are then read and updated by name alone (no array to unnest and join); the
    // text changes only when a generation does (a new prepared statement then)
    const list = this.names.map((n) => `'${n}'`).join(', ');
    const byName = (values: readonly number[]) => `CASE c.name ${this.names.map((n, i) => `WHEN '${n}' THEN ${Math.trunc(values[i]!)}`).join(' ')} END`;
    return [
      `l AS (SELECT name FROM ${ctl} WHERE name IN (${list}) AND EXISTS (SELECT 1 FROM g) ORDER BY name FOR UPDATE)`,
      `c AS (UPDATE ${ctl} AS c SET seen = GREATEST(c.seen, g.pos), position = CASE WHEN c.version = ${byName(this.versions)} THEN GREATEST(c.position, g.pos) ELSE c.position END
        FROM l, g WHERE c.name = l.name RETURNING c.version = ${byName(this.versions)} AND c.generation = ${byName(gens)} AS fresh)`,
      // no row unless stored and every control row still names these generations at these versions (else DG001: nothing commits)
      `w AS MATERIALIZED (SELECT g.rev, g.pos, g.ms FROM g WHERE CASE WHEN (SELECT count(*) FROM c WHERE fresh) = ${this.names.length} THEN true ELSE "${this.schema}".dgent_inline_moved() END)`,
    ];
  }
}
