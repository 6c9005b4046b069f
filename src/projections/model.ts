/**
 * The reference model of the built-in views: a plain fold of keyed events, one event at a time,
 * into KV entries, namespaces, versions and audit entries. Tests compare every backend's views
 * (inline, async, rebuilt) with it; the memory views follow the same semantics.
 *
 * Retention by age is relative to the newest event time applied so far (never the wall clock), so
 * the views stay a pure function of the log prefix: the same events give the same rows however
 * they were batched (as long as event times do not go backwards, as the logs guarantee per commit).
 */
import { encode } from '../core/codec.js';
import type { RecordedEvent } from '../streams/event-log.js';
import { isRelationType, KEYED, toErasedKeyEvent, toKeyedEvent, type ErasedKeyEvent, type KeyedEvent } from './keyed-events.js';
import { canonicalRelations, involves, stepRelations, type RelationChange, type RelationEntry, type RelationsDump } from './views/relations/rows.js';
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
} from './views/rows.js';

/** Retention settings of the versions and audit views. */
export interface KeyedViewsOptions {
  versions?: VersionsRetentionOptions | undefined;
  audit?: AuditRetentionOptions | undefined;
}

/** The state of the three views. Map keys are `namespace/key` (namespaces never contain `/`). */
export interface KeyedModel {
  kv: Map<string, KvEntry>;
  namespaces: Map<string, NamespaceEntry>;
  versions: Map<string, VersionEntry[]>;
  audit: AuditEntry[];
  /** newest event time applied (for retention by age) */
  maxTime: number;
  /** live relations by relation id (relations view) */
  relations: Map<string, RelationEntry>;
  /** every change of every relation, in position order (relations view) */
  relationHistory: RelationChange[];
}

/** An empty model. */
export function emptyModel(): KeyedModel {
  return { kv: new Map(), namespaces: new Map(), versions: new Map(), audit: [], maxTime: -Infinity, relations: new Map(), relationHistory: [] };
}

/** `namespace/key`, the map key of one key. */
export const entryId = (namespace: string, key: string): string => `${namespace}/${key}`;

/** Apply one keyed event to the model (mutates it). */
export function applyKeyedEvent(m: KeyedModel, e: KeyedEvent, options: KeyedViewsOptions = {}): void {
  m.maxTime = Math.max(m.maxTime, e.time);
  const r = stepRelations(m.relations, e); // relationship events, and key removals taking the key's relations with them
  const purged = r.purged;
  if (purged) m.relationHistory = m.relationHistory.filter((c) => !involves(c, purged));
  m.relationHistory.push(...r.changes);
  if (isRelationType(e.type)) {
    m.audit.push(auditRow(e)); // audited as an event of the subject key; no KV row or version
    prune(m, options);
    return;
  }
  if (e.key === null) {
    if (e.type === KEYED.namespaceCreated) {
      if (!m.namespaces.has(e.namespace)) m.namespaces.set(e.namespace, { namespace: e.namespace, createdAt: e.time });
    } else {
      m.namespaces.delete(e.namespace);
      for (const [id, entry] of m.kv) if (entry.namespace === e.namespace) m.kv.delete(id);
    }
  } else {
    // any event of a key stream means its namespace exists (see applyErasedEvent)
    if (!m.namespaces.has(e.namespace)) m.namespaces.set(e.namespace, { namespace: e.namespace, createdAt: e.time });
    const id = entryId(e.namespace, e.key);
    const after = step(m.kv.get(id), e);
    if (after) m.kv.set(id, after);
    else m.kv.delete(id);
    if (e.type === KEYED.purged) {
      m.versions.delete(id);
      m.audit = m.audit.filter((a) => !(a.namespace === e.namespace && a.key === e.key));
    }
    const v = versionRow(e, after);
    if (v) {
      const list = m.versions.get(id) ?? [];
      list.push(v);
      m.versions.set(id, list);
      const max = retentionOf(options.versions, e.namespace).maxVersions;
      if (max !== undefined && list.length > max) list.splice(0, list.length - max);
    }
  }
  m.audit.push(auditRow(e));
  prune(m, options);
}

function prune(m: KeyedModel, options: KeyedViewsOptions): void {
  const auditAge = options.audit?.maxAgeMs;
  if (auditAge !== undefined) m.audit = m.audit.filter((a) => a.time >= m.maxTime - auditAge);
  for (const [id, list] of m.versions) {
    const age = retentionOf(options.versions, list[0]!.namespace).maxAgeMs;
    if (age === undefined) continue;
    const kept = list.filter((v, i) => i === list.length - 1 || v.time >= m.maxTime - age);
    if (kept.length !== list.length) m.versions.set(id, kept);
  }
}

/**
 * Apply an erased event of a key stream (what a purge leaves of the key's earlier events): its
 * namespace exists from the event's time, as after any event of a key stream; nothing else (the
 * versions, audit and relations views skip erased events, and they do not count for retention).
 * That keeps the namespace a purged key created through a rebuild, and because an erased event
 * could have been any key event, every key event creates its namespace alike (applyKeyedEvent).
 */
export function applyErasedEvent(m: KeyedModel, e: ErasedKeyEvent): void {
  if (!m.namespaces.has(e.namespace)) m.namespaces.set(e.namespace, { namespace: e.namespace, createdAt: e.time });
}

/** Fold recorded events into the model: keyed events, and erased events of key streams; others are skipped. */
export function foldKeyed(m: KeyedModel, events: Iterable<RecordedEvent>, options: KeyedViewsOptions = {}): KeyedModel {
  for (const r of events) {
    const e = toKeyedEvent(r);
    if (e) applyKeyedEvent(m, e, options);
    else {
      const x = toErasedKeyEvent(r);
      if (x) applyErasedEvent(m, x);
    }
  }
  return m;
}

/** A canonical, comparable picture of the three views (values also as codec text, which keeps key order). */
export interface ViewsDump {
  kv: (Omit<KvEntry, 'value'> & { value: string })[];
  namespaces: NamespaceEntry[];
  versions: (Omit<VersionEntry, 'value'> & { value: string | null })[];
  audit: AuditEntry[];
}

const byKey = (a: { namespace: string; key: string }, b: { namespace: string; key: string }): number =>
  a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** Put rows read from any backend into the canonical order. */
export function canonicalDump(d: { kv: KvEntry[]; namespaces: NamespaceEntry[]; versions: VersionEntry[]; audit: AuditEntry[] }): ViewsDump {
  return {
    kv: d.kv.map((e) => ({ ...e, value: encode(e.value) })).sort(byKey),
    namespaces: [...d.namespaces].sort((a, b) => (a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0)),
    versions: d.versions
      .map((v) => ({ ...v, value: v.deleted ? null : encode(v.value) }))
      .sort((a, b) => byKey(a, b) || a.version - b.version),
    audit: [...d.audit].sort((a, b) => a.position - b.position),
  };
}

/** The model's relations view, canonical (compare with `canonicalRelations` of a backend's rows). */
export function dumpRelationsModel(m: KeyedModel): RelationsDump {
  return canonicalRelations({ relations: [...m.relations.values()], history: m.relationHistory });
}

/** The model as a {@link ViewsDump}. */
export function dumpModel(m: KeyedModel): ViewsDump {
  return canonicalDump({ kv: [...m.kv.values()], namespaces: [...m.namespaces.values()], versions: [...m.versions.values()].flat(), audit: m.audit });
}
