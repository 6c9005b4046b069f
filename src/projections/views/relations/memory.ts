/**
 * The relations view in memory. Maps: `rel` (relation id -> frozen RelationEntry), `sub` and `obj`
 * (`namespace/key` -> frozen relation ids where the key is subject / object: both directions,
 * written in the same batch), `hist` (relation id -> frozen RelationChange[], oldest first).
 */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { MemoryViewContext } from '../../view-context.js';
import { relationId } from '../../keyed-events.js';
import type { MemoryMaps } from '../kv/memory.js';
import { keyedBatch } from '../plan.js';
import { ageRuleCovers, planRelations, relationsNeeds } from './plan.js';
import { compareForward, compareInverse, involves, keyId, relationIdOf, type KeyRef, type RelationChange, type RelationEntry, type RelationHistoryRetentionOptions } from './rows.js';
import type { RelationsReader } from './types.js';

const without = (list: readonly string[] | undefined, id: string): readonly string[] => Object.freeze((list ?? []).filter((x) => x !== id));
const withId = (list: readonly string[] | undefined, id: string): readonly string[] => (list?.includes(id) ? list : Object.freeze([...(list ?? []), id]));

function setList(m: Map<string, readonly string[]>, k: string, list: readonly string[]): void {
  if (list.length === 0) m.delete(k);
  else m.set(k, list);
}

/** Fold a batch into the memory relations view. */
export function applyRelationsMemory(events: readonly RecordedEvent[], ctx: MemoryViewContext, retention?: RelationHistoryRetentionOptions): void {
  const rel = ctx.map<string, RelationEntry>('rel');
  const sub = ctx.map<string, readonly string[]>('sub');
  const obj = ctx.map<string, readonly string[]>('obj');
  const hist = ctx.map<string, readonly RelationChange[]>('hist');
  const batch = keyedBatch(events);
  const needs = relationsNeeds(batch);
  const loaded = new Map<string, RelationEntry>();
  const load = (id: string): void => {
    const r = rel.get(id);
    if (r) loaded.set(id, r);
  };
  needs.ids.forEach(load);
  for (const k of needs.keys) for (const id of [...(sub.get(keyId(k)) ?? []), ...(obj.get(keyId(k)) ?? [])]) load(id);
  if (needs.namespaces.length > 0) for (const [id, r] of rel) if (needs.namespaces.includes(r.subject.namespace) || needs.namespaces.includes(r.object.namespace)) loaded.set(id, r);
  const plan = planRelations(batch, loaded, retention);
  for (const r of plan.deletes) {
    const id = relationIdOf(r);
    rel.delete(id);
    setList(sub, keyId(r.subject), without(sub.get(keyId(r.subject)), id));
    setList(obj, keyId(r.object), without(obj.get(keyId(r.object)), id));
  }
  for (const r of plan.upserts) {
    const id = relationIdOf(r);
    rel.set(id, Object.freeze(r));
    sub.set(keyId(r.subject), withId(sub.get(keyId(r.subject)), id));
    obj.set(keyId(r.object), withId(obj.get(keyId(r.object)), id));
  }
  for (const k of plan.purges) for (const [id, list] of hist) if (list[0] && involves(list[0], k)) hist.delete(id);
  for (const c of plan.changes) {
    const id = relationIdOf(c);
    hist.set(id, Object.freeze([...(hist.get(id) ?? []), Object.freeze(c)]));
  }
  for (const t of plan.trims) {
    const id = relationIdOf(t);
    const list = hist.get(id);
    if (list && list.length > t.keep) hist.set(id, Object.freeze(list.slice(-t.keep)));
  }
  for (const rule of plan.age) {
    for (const [id, list] of hist) {
      if (list.length < 2 || !ageRuleCovers(rule, list[0]!.subject.namespace)) continue;
      const kept = list.filter((c, i) => i === list.length - 1 || c.time >= rule.before);
      if (kept.length !== list.length) hist.set(id, Object.freeze(kept));
    }
  }
}

/** Reads of the memory relations view. */
export class MemoryRelationsReader implements RelationsReader {
  constructor(private readonly storage: MemoryMaps, private readonly name = 'kv_relations') {}

  private map<V>(local: string): ReadonlyMap<string, V> {
    return this.storage.map<string, V>(this.name, local) ?? new Map();
  }

  private rows(ids: readonly string[], predicate: string | undefined): RelationEntry[] {
    const rel = this.map<RelationEntry>('rel');
    const out: RelationEntry[] = [];
    for (const id of ids) {
      const r = rel.get(id);
      if (r && (predicate === undefined || r.predicate === predicate)) out.push(r);
    }
    return out;
  }

  async related(subject: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    return this.rows(this.map<readonly string[]>('sub').get(keyId(subject)) ?? [], predicate).sort(compareForward);
  }

  async relatedTo(object: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    return this.rows(this.map<readonly string[]>('obj').get(keyId(object)) ?? [], predicate).sort(compareInverse);
  }

  async get(subject: KeyRef, predicate: string, object: KeyRef): Promise<RelationEntry | undefined> {
    return this.map<RelationEntry>('rel').get(relationId(subject, predicate, object));
  }

  async history(subject: KeyRef, predicate: string, object: KeyRef, o: { limit?: number | undefined } = {}): Promise<RelationChange[]> {
    const list = [...(this.map<readonly RelationChange[]>('hist').get(relationId(subject, predicate, object)) ?? [])].reverse();
    return o.limit === undefined ? list : list.slice(0, o.limit);
  }

  async all(): Promise<RelationEntry[]> {
    return [...this.map<RelationEntry>('rel').values()];
  }

  async allHistory(): Promise<RelationChange[]> {
    return [...this.map<readonly RelationChange[]>('hist').values()].flat();
  }
}
