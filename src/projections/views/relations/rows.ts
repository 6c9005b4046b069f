/**
 * The rows of the relations view and the one step that defines them: what a relationship event,
 * and a key's deletion, expiry, purge or namespace drop, do to the relations. Every backend (and
 * the reference model in ../../model.ts) folds with {@link stepRelations}; backends only load the
 * rows a batch touches and write the result (./plan.ts).
 */
import { KEYED, RELATION, relationId, type KeyedEvent, type KeyRef } from '../../keyed-events.js';
import { compareKeys } from '../keys.js';

export type { KeyRef } from '../../keyed-events.js';

/** One live relation `subject -predicate-> object`. */
export interface RelationEntry {
  subject: KeyRef;
  predicate: string;
  object: KeyRef;
  /** the relation stream's revision of the relate that made it live (or re-related it) */
  version: number;
  /** when it became live (time of that relate; kept by a repeated relate) */
  createdAt: number;
  /** who related it last */
  actor: string | null;
  /** log position of its last relate */
  position: number;
}

/** One change of a relation (history): a relate, an unrelate, or its removal with a key (delete, expiry, namespace drop). */
export interface RelationChange {
  subject: KeyRef;
  predicate: string;
  object: KeyRef;
  /** the relation's version after the change (a removal with a key leaves it as it was) */
  version: number;
  /** whether the relation is live after the change */
  related: boolean;
  /** `relate`, `unrelate`, or the operation of the key event that removed it (`delete`, `expire`, `deleteNamespace`, `clear`, ...) */
  operation: string;
  /** the event's type: `kv.relation.added`, `kv.relation.removed`, `kv.deleted`, `kv.expired`, `kv.namespace.deleted` */
  type: string;
  time: number;
  actor: string | null;
  position: number;
}

/**
 * Retention of the relation history, per namespace of the relation's subject, with a default
 * (like the versions view's): at most `maxChanges` changes per relation (its newest), and none
 * older than `maxAgeMs` before the newest event folded, except each relation's newest change,
 * which is always kept. Live relations are never touched.
 */
export interface RelationHistoryRetention {
  maxChanges?: number | undefined;
  maxAgeMs?: number | undefined;
}
export interface RelationHistoryRetentionOptions extends RelationHistoryRetention {
  /** per namespace (of the subject); replaces the default for that namespace */
  namespaces?: Readonly<Record<string, RelationHistoryRetention>> | undefined;
}

/** The retention that applies to relations whose subject is in `namespace`. */
export function historyRetentionOf(r: RelationHistoryRetentionOptions | undefined, namespace: string): RelationHistoryRetention {
  return r?.namespaces?.[namespace] ?? r ?? {};
}

/** Whether any retention by age is configured (the view then folds every keyed event, for its time). */
export function byAge(r: RelationHistoryRetentionOptions | undefined): boolean {
  return r?.maxAgeMs !== undefined || Object.values(r?.namespaces ?? {}).some((x) => x.maxAgeMs !== undefined);
}

/** The relation id (see relationId) of a row. */
export const relationIdOf = (r: { subject: KeyRef; predicate: string; object: KeyRef }): string => relationId(r.subject, r.predicate, r.object);

/** `namespace/key` of one key (namespaces never contain `/`). */
export const keyId = (k: KeyRef): string => `${k.namespace}/${k.key}`;

const same = (a: KeyRef, b: KeyRef): boolean => a.namespace === b.namespace && a.key === b.key;

/** True when the relation has `k` as subject or object. */
export function involves(r: { subject: KeyRef; object: KeyRef }, k: KeyRef): boolean {
  return same(r.subject, k) || same(r.object, k);
}

/** The event types the relations view folds: the relationship events and the key removals. */
export const RELATIONS_HANDLES: readonly string[] = Object.freeze([RELATION.added, RELATION.removed, KEYED.deleted, KEYED.expired, KEYED.purged, KEYED.namespaceDeleted]);

/** What one event did besides changing `rel`: the history rows it leaves and the key it purged. */
export interface RelationStep {
  changes: RelationChange[];
  /** a purged key: every history row naming it is dropped */
  purged: KeyRef | undefined;
}

/**
 * Apply one event to the live relations `rel` (relation id -> entry; must hold at least every
 * relation the event can touch) and say what it left. A relate of a live relation refreshes it
 * (version, actor, position; createdAt kept); an unrelate of an absent one changes nothing but
 * is still a change of its history. A key's removal removes every relation naming it, as
 * subject or object; a purge leaves no history (the key's history is erased), the others do.
 */
export function stepRelations(rel: Map<string, RelationEntry>, e: KeyedEvent): RelationStep {
  const out: RelationStep = { changes: [], purged: undefined };
  const change = (r: { subject: KeyRef; predicate: string; object: KeyRef }, version: number, related: boolean): void => {
    out.changes.push({ subject: r.subject, predicate: r.predicate, object: r.object, version, related, operation: e.operation, type: e.type, time: e.time, actor: e.actor, position: e.position });
  };
  switch (e.type) {
    case RELATION.added: {
      const d = e.data;
      const id = relationId(d.subject, d.predicate, d.object);
      const cur = rel.get(id);
      rel.set(id, { subject: d.subject, predicate: d.predicate, object: d.object, version: e.version, createdAt: cur?.createdAt ?? e.time, actor: e.actor, position: e.position });
      change(d, e.version, true);
      return out;
    }
    case RELATION.removed: {
      const d = e.data;
      rel.delete(relationId(d.subject, d.predicate, d.object));
      change(d, e.version, false);
      return out;
    }
    case KEYED.deleted:
    case KEYED.expired:
    case KEYED.purged: {
      const k = { namespace: e.namespace, key: e.key };
      const purge = e.type === KEYED.purged;
      for (const [id, r] of rel) {
        if (!involves(r, k)) continue;
        rel.delete(id);
        if (!purge) change(r, r.version, false);
      }
      if (purge) out.purged = k;
      return out;
    }
    case KEYED.namespaceDeleted:
      for (const [id, r] of rel) {
        if (r.subject.namespace !== e.namespace && r.object.namespace !== e.namespace) continue;
        rel.delete(id);
        change(r, r.version, false);
      }
      return out;
    default:
      return out;
  }
}

/** Order of relations: subject, predicate, object (namespace then key, code point order). */
export function compareRelations(a: { subject: KeyRef; predicate: string; object: KeyRef }, b: { subject: KeyRef; predicate: string; object: KeyRef }): number {
  return (
    compareKeys(a.subject.namespace, b.subject.namespace) ||
    compareKeys(a.subject.key, b.subject.key) ||
    compareKeys(a.predicate, b.predicate) ||
    compareKeys(a.object.namespace, b.object.namespace) ||
    compareKeys(a.object.key, b.object.key)
  );
}

/** Order of the answer of `relatedTo`: predicate, then subject. */
export function compareInverse(a: RelationEntry, b: RelationEntry): number {
  return (
    compareKeys(a.predicate, b.predicate) ||
    compareKeys(a.subject.namespace, b.subject.namespace) ||
    compareKeys(a.subject.key, b.subject.key)
  );
}

/** Order of the answer of `related`: predicate, then object. */
export function compareForward(a: RelationEntry, b: RelationEntry): number {
  return compareKeys(a.predicate, b.predicate) || compareKeys(a.object.namespace, b.object.namespace) || compareKeys(a.object.key, b.object.key);
}

/** A canonical, comparable picture of the relations view: relations in order, history by relation then position. */
export interface RelationsDump {
  relations: RelationEntry[];
  history: RelationChange[];
}

/** Put rows read from any backend (or the model) into the canonical order. */
export function canonicalRelations(d: { relations: readonly RelationEntry[]; history: readonly RelationChange[] }): RelationsDump {
  return {
    relations: d.relations.map((r) => ({ ...r })).sort(compareRelations),
    history: d.history.map((c) => ({ ...c })).sort((a, b) => compareRelations(a, b) || a.position - b.position),
  };
}
