/**
 * The rows of the built-in views and the one step that defines a key's state after a keyed event.
 * Every backend (and the reference model) stores these rows; `step` is the only place that says
 * what set, patched, incremented, metadata, deleted, expired and purged do to a key.
 */
import { applyPatches, produce } from 'immer';
import { CorruptionError } from '../../core/errors.js';
import { KEYED, RELATION, type KeyedEvent, type KeyRef, type Metadata } from '../keyed-events.js';
import '../../agents/immer-setup.js';

/** Current state of one key (KV view). Times are epoch ms from the log. */
export interface KvEntry {
  namespace: string;
  key: string;
  value: unknown;
  /** the key's stream revision after its last event */
  version: number;
  metadata: Metadata | null;
  createdAt: number;
  updatedAt: number;
  /** epoch ms, null = never */
  expiresAt: number | null;
  /** log position of the key's last event */
  position: number;
}

/** A namespace known to the KV view (created explicitly or by its first key). */
export interface NamespaceEntry {
  namespace: string;
  createdAt: number;
}

/** One version of a key (versions view): every keyed event except purge leaves one. */
export interface VersionEntry {
  namespace: string;
  key: string;
  version: number;
  /** undefined when `deleted` */
  value: unknown;
  /** the key was deleted or expired by this event */
  deleted: boolean;
  metadata: Metadata | null;
  expiresAt: number | null;
  time: number;
  actor: string | null;
  operation: string;
  position: number;
}

/** One audit entry: who did what to which key, without the value. */
export interface AuditEntry {
  position: number;
  time: number;
  actor: string | null;
  operation: string;
  /** the keyed event type, e.g. `kv.set` */
  type: string;
  namespace: string;
  /** null for namespace events */
  key: string | null;
  version: number;
  /**
   * the metadata the event wrote (set, metadata set/merged); for a relate or unrelate (an entry of
   * the subject key) the relation's `{ predicate, object: { namespace, key } }`; else null
   */
  metadata: Metadata | null;
  tx: string | null;
}

/** The metadata of a relate / unrelate audit entry: the predicate and the object (the entry's own key is the subject). */
export type RelationAuditMetadata = {
  predicate: string;
  object: KeyRef;
};

export function relationAuditMetadata(predicate: string, object: KeyRef): RelationAuditMetadata {
  return { predicate, object: { namespace: object.namespace, key: object.key } };
}

/** The object a relate / unrelate audit entry names, else undefined. */
export function auditObject(a: Pick<AuditEntry, 'type' | 'metadata'>): KeyRef | undefined {
  if ((a.type !== RELATION.added && a.type !== RELATION.removed) || a.metadata === null) return undefined;
  const o = (a.metadata as Partial<RelationAuditMetadata>).object;
  return o && typeof o.namespace === 'string' && typeof o.key === 'string' ? o : undefined;
}

/** Retention of the versions view: per namespace, with a default. The newest version of a key is always kept. */
export interface VersionRetention {
  maxVersions?: number | undefined;
  maxAgeMs?: number | undefined;
}
export interface VersionsRetentionOptions extends VersionRetention {
  namespaces?: Readonly<Record<string, VersionRetention>> | undefined;
}
/** Retention of the audit view. */
export interface AuditRetentionOptions {
  maxAgeMs?: number | undefined;
}

/** Retention that applies to `namespace`. */
export function retentionOf(r: VersionsRetentionOptions | undefined, namespace: string): VersionRetention {
  return r?.namespaces?.[namespace] ?? r ?? {};
}

function where(e: KeyedEvent): string {
  return `key ${JSON.stringify(`${e.namespace}/${e.key ?? ''}`)} version ${e.version}`;
}

function increment(value: unknown, by: number, field: string | undefined, e: KeyedEvent): unknown {
  const bad = (what: unknown): never => {
    throw new CorruptionError(`kv.incremented on a value that is not a number (${typeof what})`, where(e));
  };
  if (field === undefined) {
    if (value === undefined) return by;
    return typeof value === 'number' ? value + by : bad(value);
  }
  const path = field.split('.');
  const base = value === undefined ? {} : value;
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return bad(base);
  return produce(base as Record<string, unknown>, (draft) => {
    let o: Record<string, unknown> = draft;
    for (const seg of path.slice(0, -1)) {
      const next = o[seg];
      if (next === undefined) o[seg] = {};
      else if (typeof next !== 'object' || next === null || Array.isArray(next)) bad(next);
      o = o[seg] as Record<string, unknown>;
    }
    const last = path[path.length - 1]!;
    const cur = o[last];
    if (cur !== undefined && typeof cur !== 'number') bad(cur);
    o[last] = ((cur as number | undefined) ?? 0) + by;
  });
}

/**
 * The key's state after `e` (a key event), from its state before (`cur`, undefined = absent).
 * Patches and metadata changes on an absent key cannot be applied: CorruptionError (the projection stops there).
 */
/** The entry of `e`'s key after `e`, with these value, metadata and expiry. */
function entryAfter(cur: KvEntry | undefined, e: KeyedEvent, value: unknown, metadata: Metadata | null, expiresAt: number | null): KvEntry {
  return { namespace: e.namespace, key: e.key!, value, version: e.version, metadata, createdAt: cur?.createdAt ?? e.time, updatedAt: e.time, expiresAt, position: e.position };
}

export function step(cur: KvEntry | undefined, e: KeyedEvent): KvEntry | undefined {
  if (e.key === null) return cur;
  // a module-level function, not a closure per call: the rebuild runs this for every event of every view
  const next = (value: unknown, metadata: Metadata | null, expiresAt: number | null): KvEntry => entryAfter(cur, e, value, metadata, expiresAt);
  switch (e.type) {
    case KEYED.set:
      return entryAfter(cur, e, e.data.value, e.data.metadata ?? cur?.metadata ?? null, e.data.expiresAt ?? null);
    case KEYED.patched: {
      if (!cur) throw new CorruptionError('kv.patched on a key that has no value', where(e));
      let value: unknown;
      try {
        value = applyPatches(cur.value as object, e.data.patches as never);
      } catch (err) {
        throw new CorruptionError(`kv.patched does not apply to the current value: ${(err as Error).message}`, where(e), { cause: err });
      }
      return next(value, cur.metadata, cur.expiresAt);
    }
    case KEYED.incremented:
      return next(increment(cur?.value, e.data.by, e.data.field, e), cur?.metadata ?? null, cur?.expiresAt ?? null);
    case KEYED.metadataSet:
    case KEYED.metadataMerged: {
      if (!cur) throw new CorruptionError(`${e.type} on a key that has no value`, where(e));
      const m = e.type === KEYED.metadataMerged ? { ...(cur.metadata ?? {}), ...e.data.metadata } : e.data.metadata;
      return next(cur.value, m, cur.expiresAt);
    }
    default:
      return undefined; // deleted, expired, purged
  }
}

/** The version row `e` leaves, given the key's state after it (`after`); undefined for purge and namespace events. */
export function versionRow(e: KeyedEvent, after: KvEntry | undefined): VersionEntry | undefined {
  if (e.key === null || e.type === KEYED.purged) return undefined;
  return {
    namespace: e.namespace,
    key: e.key,
    version: e.version,
    value: after?.value,
    deleted: after === undefined,
    metadata: after?.metadata ?? null,
    expiresAt: after?.expiresAt ?? null,
    time: e.time,
    actor: e.actor,
    operation: e.operation,
    position: e.position,
  };
}

/** The audit row of `e`. */
export function auditRow(e: KeyedEvent): AuditEntry {
  const metadata =
    e.type === KEYED.set ? (e.data.metadata ?? null)
    : e.type === KEYED.metadataSet || e.type === KEYED.metadataMerged ? e.data.metadata
    : e.type === RELATION.added || e.type === RELATION.removed ? relationAuditMetadata(e.data.predicate, e.data.object)
    : null;
  return {
    position: e.position,
    time: e.time,
    actor: e.actor,
    operation: e.operation,
    type: e.type,
    namespace: e.namespace,
    key: e.key,
    version: e.version,
    metadata,
    tx: e.tx,
  };
}
