/**
 * Batch planning of the relations view, shared by every backend: the rows a batch can touch are
 * loaded ({@link relationsNeeds}), the batch is folded over them one event at a time with
 * {@link stepRelations}, and the difference becomes the writes ({@link RelationsPlan}).
 */
import { KEYED, RELATION, relationId, type KeyedEvent } from '../../keyed-events.js';
import { historyRetentionOf, involves, stepRelations, type KeyRef, type RelationChange, type RelationEntry, type RelationHistoryRetentionOptions } from './rows.js';

/** The stored rows a batch can touch: relations by id, relations naming a removed key, relations with an end in a dropped namespace. */
export interface RelationsNeeds {
  ids: string[];
  keys: KeyRef[];
  namespaces: string[];
}

export function relationsNeeds(batch: readonly KeyedEvent[]): RelationsNeeds {
  const ids = new Set<string>();
  const keys = new Map<string, KeyRef>();
  const namespaces = new Set<string>();
  for (const e of batch) {
    if (e.type === RELATION.added || e.type === RELATION.removed) ids.add(relationId(e.data.subject, e.data.predicate, e.data.object));
    else if (e.type === KEYED.namespaceDeleted) namespaces.add(e.namespace);
    else if (e.type === KEYED.deleted || e.type === KEYED.expired || e.type === KEYED.purged) keys.set(`${e.namespace}/${e.key}`, { namespace: e.namespace, key: e.key });
    // other keyed events (folded only for their time, with retention by age) touch no relation
  }
  return { ids: [...ids], keys: [...keys.values()], namespaces: [...namespaces] };
}

/** A relation whose history keeps only its newest `keep` changes. */
export interface HistoryTrim {
  subject: KeyRef;
  predicate: string;
  object: KeyRef;
  keep: number;
}

/** Drop history rows older than `before`, except each relation's newest: of relations whose subject is in `namespace`, or (null) in no namespace of `except`. */
export interface HistoryAgeRule {
  namespace: string | null;
  except: string[];
  before: number;
}

/**
 * Writes of the relations view, in this order: delete rows, upsert rows, drop the history naming
 * purged keys, insert history rows, trim histories to their newest changes, prune by age.
 */
export interface RelationsPlan {
  /** live before the batch, gone after it */
  deletes: RelationEntry[];
  /** live after the batch and new or changed */
  upserts: RelationEntry[];
  /** keys purged: every stored history row naming one is dropped */
  purges: KeyRef[];
  /** history rows to insert (those naming a key purged later in the batch are left out) */
  changes: RelationChange[];
  /** retention by count: relations with changes in this batch and a `maxChanges` */
  trims: HistoryTrim[];
  /** retention by age, relative to the newest event time of the batch */
  age: HistoryAgeRule[];
}

/** Plan a batch's writes; `loaded` holds (at least) the stored rows of {@link relationsNeeds}, by relation id. */
export function planRelations(batch: readonly KeyedEvent[], loaded: ReadonlyMap<string, RelationEntry>, retention?: RelationHistoryRetentionOptions): RelationsPlan {
  const rel = new Map(loaded);
  const plan: RelationsPlan = { deletes: [], upserts: [], purges: [], changes: [], trims: [], age: [] };
  let maxTime = -Infinity;
  for (const e of batch) {
    maxTime = Math.max(maxTime, e.time);
    const s = stepRelations(rel, e);
    if (s.purged) {
      const k = s.purged;
      plan.changes = plan.changes.filter((c) => !involves(c, k));
      plan.purges.push(k);
    }
    plan.changes.push(...s.changes);
  }
  for (const [id, r] of loaded) if (!rel.has(id)) plan.deletes.push(r);
  for (const [id, r] of rel) if (loaded.get(id) !== r) plan.upserts.push(r);
  if (retention) {
    const trimmed = new Set<string>();
    for (const c of plan.changes) {
      const id = relationId(c.subject, c.predicate, c.object);
      const keep = historyRetentionOf(retention, c.subject.namespace).maxChanges;
      if (keep === undefined || trimmed.has(id)) continue;
      trimmed.add(id);
      plan.trims.push({ subject: c.subject, predicate: c.predicate, object: c.object, keep });
    }
    if (batch.length > 0) plan.age = historyAgeRules(retention, maxTime);
  }
  return plan;
}

function historyAgeRules(r: RelationHistoryRetentionOptions, maxTime: number): HistoryAgeRule[] {
  const out: HistoryAgeRule[] = [];
  const overridden = Object.keys(r.namespaces ?? {});
  for (const ns of overridden) {
    const age = r.namespaces![ns]!.maxAgeMs;
    if (age !== undefined) out.push({ namespace: ns, except: [], before: maxTime - age });
  }
  if (r.maxAgeMs !== undefined) out.push({ namespace: null, except: overridden, before: maxTime - r.maxAgeMs });
  return out;
}

/** Whether an age rule applies to a relation whose subject is in `namespace`. */
export function ageRuleCovers(rule: HistoryAgeRule, namespace: string): boolean {
  return rule.namespace !== null ? rule.namespace === namespace : !rule.except.includes(namespace);
}
