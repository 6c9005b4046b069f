/**
 * Batch planning, shared by every backend: a batch of keyed events plus the current rows of the
 * keys it touches become the writes that bring a view from the fold of the log up to the batch's
 * start to the fold up to its end. Backends only load rows and execute plans, so the semantics
 * live in one place ({@link step}) and a batch is applied with one read and a few bulk writes.
 */
import { entryId } from '../model.js';
import type { RecordedEvent } from '../../streams/event-log.js';
import { ERASED_EVENT_TYPE } from '../../streams/erase.js';
import { KEYED, toErasedKeyEvent, toKeyedEvent, type ErasedKeyEvent, type KeyedEvent } from '../keyed-events.js';
import {
  auditRow,
  retentionOf,
  step,
  versionRow,
  type AuditEntry,
  type AuditRetentionOptions,
  type KvEntry,
  type NamespaceEntry,
  type VersionEntry,
  type VersionsRetentionOptions,
} from './rows.js';

/**
 * Parsed keyed events by recorded event: the three views (and rebuilds sharing log pages) see the
 * same RecordedEvent objects, so each event is parsed and upcast once, not once per view.
 */
const parsed = new WeakMap<RecordedEvent, KeyedEvent | null>();

/** The keyed events of a batch (others are skipped), parsed and upcast. */
export function keyedBatch(events: readonly RecordedEvent[]): KeyedEvent[] {
  const out: KeyedEvent[] = [];
  for (const r of events) {
    let e = parsed.get(r);
    if (e === undefined) parsed.set(r, (e = toKeyedEvent(r) ?? null));
    if (e) out.push(e);
  }
  return out;
}

/**
 * The batch of the KV view: its keyed events and the erased events of key streams (a purge's
 * leftovers, see {@link planKv}), in log order. Other events are skipped.
 */
export function kvBatch(events: readonly RecordedEvent[]): (KeyedEvent | ErasedKeyEvent)[] {
  const out: (KeyedEvent | ErasedKeyEvent)[] = [];
  for (const r of events) {
    if (r.type === ERASED_EVENT_TYPE) {
      const x = toErasedKeyEvent(r);
      if (x) out.push(x);
      continue;
    }
    let e = parsed.get(r);
    if (e === undefined) parsed.set(r, (e = toKeyedEvent(r) ?? null));
    if (e) out.push(e);
  }
  return out;
}

/**
 * Planning without the stored rows ("blind"): a batch of only sets, deletes, expiries, purges and
 * namespace events determines every key's state except two stored fields a set may keep: the
 * metadata (a set without metadata keeps the key's) and the creation time. Rows planned blind
 * carry flags, and the SQL writers take those fields from the stored row in the same statement,
 * so an append or a rebuild batch of sets costs no read of the view.
 */
export interface Keep {
  /** take the metadata from the stored row (null when there is none) */
  keepMetadata?: boolean;
  /** take createdAt from the stored row (this row's createdAt when there is none) */
  keepCreatedAt?: boolean;
}
export type PlannedEntry = KvEntry & Keep;
export type PlannedVersion = VersionEntry & Pick<Keep, 'keepMetadata'>;

const BLIND = new Set<string>([KEYED.set, KEYED.deleted, KEYED.expired, KEYED.purged, KEYED.namespaceCreated, KEYED.namespaceDeleted, ERASED_EVENT_TYPE]);

/** True when the batch can be planned without the current rows (pass `undefined` as `current`). */
export function canPlanBlind(events: readonly (KeyedEvent | ErasedKeyEvent)[]): boolean {
  return events.every((e) => BLIND.has(e.type));
}

const UNKNOWN = Symbol('unknown');

function stepPlanned(cur: PlannedEntry | undefined | typeof UNKNOWN, e: KeyedEvent): PlannedEntry | undefined {
  if (cur === UNKNOWN) {
    if (e.type !== KEYED.set) return undefined;
    // the fields of step(undefined, e), built at once (a spread of step's result was ~5% of a rebuild's profile)
    return {
      namespace: e.namespace,
      key: e.key!,
      value: e.data.value,
      version: e.version,
      metadata: e.data.metadata ?? null,
      createdAt: e.time,
      updatedAt: e.time,
      expiresAt: e.data.expiresAt ?? null,
      position: e.position,
      keepMetadata: e.data.metadata === undefined,
      keepCreatedAt: true,
    };
  }
  const after: PlannedEntry | undefined = step(cur, e);
  if (after && cur && e.type === KEYED.set) {
    if (cur.keepCreatedAt) after.keepCreatedAt = true;
    if (cur.keepMetadata && e.data.metadata === undefined) after.keepMetadata = true;
  }
  return after;
}

export interface KeyRef {
  namespace: string;
  key: string;
}

/** The distinct keys touched by key events of the batch (erased events touch no key's row). */
export function touchedKeys(events: readonly (KeyedEvent | ErasedKeyEvent)[]): KeyRef[] {
  const seen = new Map<string, KeyRef>();
  for (const e of events) if (e.key !== null && e.type !== ERASED_EVENT_TYPE && !seen.has(entryId(e.namespace, e.key))) seen.set(entryId(e.namespace, e.key), { namespace: e.namespace, key: e.key });
  return [...seen.values()];
}

/** Writes of the KV view, executed in this order: drop namespaces (and their keys), delete keys, upsert keys, add namespaces if absent. */
export interface KvPlan {
  dropNamespaces: string[];
  deletes: KeyRef[];
  upserts: PlannedEntry[];
  namespaces: NamespaceEntry[];
}

/**
 * Plan the KV view's writes; `current` holds the stored rows of {@link touchedKeys} (absent = no
 * row), or is undefined to plan blind.
 *
 * Namespaces: created by `kv.namespace.created` or by any event of one of its keys (a set, and
 * also a delete, expiry or purge), dropped by `kv.namespace.deleted`. Every event of a key stream
 * counts, erased ones too ({@link kvBatch}): a purge erases the key's earlier events, maybe the set
 * that created the namespace, but keeps their times, so a rebuild still finds the namespace and
 * its creation time. Because erasure cannot tell which event it erased, the rule cannot depend on
 * the event type: that is why a delete or purge in a namespace that does not exist creates it.
 */
export function planKv(events: readonly (KeyedEvent | ErasedKeyEvent)[], current: ReadonlyMap<string, KvEntry> | undefined): KvPlan {
  const state = new Map<string, PlannedEntry | undefined>();
  const ns = new Map<string, NamespaceEntry | null>();
  const dropped = new Set<string>();
  const dropNamespaces: string[] = [];
  for (const e of events) {
    if (e.key === null) {
      if (e.type === KEYED.namespaceCreated) {
        if (!ns.get(e.namespace)) ns.set(e.namespace, { namespace: e.namespace, createdAt: e.time });
      } else {
        ns.set(e.namespace, null);
        dropped.add(e.namespace);
        dropNamespaces.push(e.namespace);
        for (const [id, v] of state) if (v?.namespace === e.namespace) state.set(id, undefined);
      }
      continue;
    }
    if (!ns.get(e.namespace)) ns.set(e.namespace, { namespace: e.namespace, createdAt: e.time });
    if (e.type === ERASED_EVENT_TYPE) continue;
    const id = entryId(e.namespace, e.key);
    const cur = state.has(id) ? state.get(id) : dropped.has(e.namespace) ? undefined : current ? current.get(id) : UNKNOWN;
    state.set(id, stepPlanned(cur, e));
  }
  const plan: KvPlan = { dropNamespaces, deletes: [], upserts: [], namespaces: [] };
  for (const [id, v] of state) {
    if (v) plan.upserts.push(v);
    else plan.deletes.push({ namespace: id.slice(0, id.indexOf('/')), key: id.slice(id.indexOf('/') + 1) });
  }
  for (const v of ns.values()) if (v) plan.namespaces.push(v);
  return plan;
}

/** Writes of the versions view, in this order: record drops, purge keys, insert rows, trim per key, prune by age. */
export interface VersionsPlan {
  /** namespaces dropped, with the position of the drop (rows of the namespace older than it are no longer current) */
  drops: { namespace: string; position: number }[];
  purges: KeyRef[];
  inserts: PlannedVersion[];
  /** delete rows of the key with version <= `upTo` */
  trims: (KeyRef & { upTo: number })[];
  /** delete rows older than `before` except each key's newest: in `namespace`, or (null) in every namespace not listed in `except` */
  age: { namespace: string | null; except: string[]; before: number }[];
}

/**
 * Plan the versions view's writes. `current` holds each touched key's state as the view knows it:
 * its newest row if that row is not deleted and newer than the last drop of its namespace.
 */
export function planVersions(events: readonly KeyedEvent[], current: ReadonlyMap<string, KvEntry> | undefined, retention?: VersionsRetentionOptions): VersionsPlan {
  const state = new Map<string, PlannedEntry | undefined>();
  const dropped = new Set<string>();
  const plan: VersionsPlan = { drops: [], purges: [], inserts: [], trims: [], age: [] };
  const latest = new Map<string, KeyRef & { version: number }>();
  let maxTime = -Infinity;
  for (const e of events) {
    maxTime = Math.max(maxTime, e.time);
    if (e.key === null) {
      if (e.type === KEYED.namespaceDeleted) {
        // one drop per namespace: the last one (a multi-row upsert cannot touch a row twice)
        plan.drops = plan.drops.filter((d) => d.namespace !== e.namespace);
        plan.drops.push({ namespace: e.namespace, position: e.position });
        dropped.add(e.namespace);
        for (const [id, v] of state) if (v?.namespace === e.namespace) state.set(id, undefined);
      }
      continue;
    }
    const id = entryId(e.namespace, e.key);
    const cur = state.has(id) ? state.get(id) : dropped.has(e.namespace) ? undefined : current ? current.get(id) : UNKNOWN;
    const after = stepPlanned(cur, e);
    state.set(id, after);
    if (e.type === KEYED.purged) {
      plan.inserts = plan.inserts.filter((r) => !(r.namespace === e.namespace && r.key === e.key));
      plan.purges.push({ namespace: e.namespace, key: e.key });
      latest.delete(id);
      continue;
    }
    const row: PlannedVersion = versionRow(e, after)!;
    if (after?.keepMetadata) row.keepMetadata = true;
    plan.inserts.push(row);
    latest.set(id, { namespace: e.namespace, key: e.key, version: e.version });
  }
  for (const l of latest.values()) {
    const max = retentionOf(retention, l.namespace).maxVersions;
    if (max !== undefined && l.version - max >= 1) plan.trims.push({ namespace: l.namespace, key: l.key, upTo: l.version - max });
  }
  if (events.length > 0) plan.age = ageRules(retention, maxTime);
  return plan;
}

function ageRules(r: VersionsRetentionOptions | undefined, maxTime: number): VersionsPlan['age'] {
  const out: VersionsPlan['age'] = [];
  const overridden = Object.keys(r?.namespaces ?? {});
  for (const ns of overridden) {
    const age = r!.namespaces![ns]!.maxAgeMs;
    if (age !== undefined) out.push({ namespace: ns, except: [], before: maxTime - age });
  }
  if (r?.maxAgeMs !== undefined) out.push({ namespace: null, except: overridden, before: maxTime - r.maxAgeMs });
  return out;
}

/** Writes of the audit view, in this order: purge keys, insert rows, delete rows older than `before`. */
export interface AuditPlan {
  purges: KeyRef[];
  inserts: AuditEntry[];
  before: number | undefined;
}

/** Plan the audit view's writes (it needs no stored state). */
export function planAudit(events: readonly KeyedEvent[], retention?: AuditRetentionOptions): AuditPlan {
  const plan: AuditPlan = { purges: [], inserts: [], before: undefined };
  let maxTime = -Infinity;
  for (const e of events) {
    maxTime = Math.max(maxTime, e.time);
    if (e.type === KEYED.purged) {
      plan.inserts = plan.inserts.filter((r) => !(r.namespace === e.namespace && r.key === e.key));
      plan.purges.push({ namespace: e.namespace, key: e.key });
    }
    plan.inserts.push(auditRow(e));
  }
  if (retention?.maxAgeMs !== undefined && events.length > 0) plan.before = maxTime - retention.maxAgeMs;
  return plan;
}
