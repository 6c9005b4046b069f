/**
 * Batch planning of the relations view, shared by every backend: the rows a batch can touch are
 * loaded ({@link relationsNeeds}), the batch is folded over them one event at a time with
 * {@link stepRelations}, and the difference becomes the writes ({@link RelationsPlan}).
 */
import { RELATION, relationId, type KeyedEvent } from '../../keyed-events.js';
import { involves, stepRelations, type KeyRef, type RelationChange, type RelationEntry } from './rows.js';

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
    else if (e.key === null) namespaces.add(e.namespace);
    else keys.set(`${e.namespace}/${e.key}`, { namespace: e.namespace, key: e.key });
  }
  return { ids: [...ids], keys: [...keys.values()], namespaces: [...namespaces] };
}

/** Writes of the relations view, in this order: delete rows, upsert rows, drop the history naming purged keys, insert history rows. */
export interface RelationsPlan {
  /** live before the batch, gone after it */
  deletes: RelationEntry[];
  /** live after the batch and new or changed */
  upserts: RelationEntry[];
  /** keys purged: every stored history row naming one is dropped */
  purges: KeyRef[];
  /** history rows to insert (those naming a key purged later in the batch are left out) */
  changes: RelationChange[];
}

/** Plan a batch's writes; `loaded` holds (at least) the stored rows of {@link relationsNeeds}, by relation id. */
export function planRelations(batch: readonly KeyedEvent[], loaded: ReadonlyMap<string, RelationEntry>): RelationsPlan {
  const rel = new Map(loaded);
  const plan: RelationsPlan = { deletes: [], upserts: [], purges: [], changes: [] };
  for (const e of batch) {
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
  return plan;
}
