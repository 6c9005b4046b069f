/**
 * Retention of the relation history against a model: random relation sequences (store-relations-support)
 * appended with small pauses (so event times differ), folded by relations views with a random
 * retention; the history each view keeps equals the unretained fold of the model with the retention
 * applied as documented: per relation (by its subject's namespace, with a default), its newest
 * `maxChanges` changes, and none older than `maxAgeMs` before the newest keyed event, except its
 * newest change. Live relations are untouched.
 */
import fc from 'fast-check';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { toKeyedEvent } from '../src/projections/keyed-events.js';
import { emptyModel, foldKeyed } from '../src/projections/model.js';
import { canonicalRelations, relationIdOf, type RelationChange, type RelationHistoryRetention, type RelationHistoryRetentionOptions, type RelationsDump } from '../src/projections/views/relations/rows.js';
import { NAMESPACES, relOpsArb } from './store-relations-support.js';

const ruleArb: fc.Arbitrary<RelationHistoryRetention> = fc.record(
  { maxChanges: fc.integer({ min: 1, max: 3 }), maxAgeMs: fc.constantFrom(0, 1, 3, 10, 60_000) },
  { requiredKeys: [] },
);

/** The relation sequences of store-relations-support, on fewer keys and predicates: one relation changes many times. */
export const retentionOpsArb = relOpsArb.map((ops) => ops.map((o) => ({ ...o, key: o.key % 2, okey: o.okey % 2, p: o.p % 2 })));

/** A retention with a default and (sometimes) an override for one namespace of the run. */
export const retentionArb: fc.Arbitrary<RelationHistoryRetentionOptions> = fc
  .record({ base: ruleArb, override: fc.option(fc.tuple(fc.nat({ max: NAMESPACES.length - 1 }), ruleArb), { nil: undefined }) })
  .filter((x) => Object.keys(x.base).length > 0 || x.override !== undefined)
  .map((x) => ({ ...x.base, ...(x.override ? { namespaces: { [NAMESPACES[x.override[0]]!]: x.override[1] } } : {}) }));

/** The retention with the run's namespace prefix applied to its overrides. */
export function prefixed(r: RelationHistoryRetentionOptions, run: string): RelationHistoryRetentionOptions {
  const namespaces = r.namespaces && Object.fromEntries(Object.entries(r.namespaces).map(([ns, x]) => [run + ns, x]));
  return { ...r, ...(namespaces ? { namespaces } : {}) };
}

/** The model: the unretained relations view of `events`, its history cut as documented. */
export function retainedModel(events: readonly RecordedEvent[], r: RelationHistoryRetentionOptions): RelationsDump {
  const m = foldKeyed(emptyModel(), events);
  let maxTime = -Infinity;
  for (const r of events) {
    const e = toKeyedEvent(r);
    if (e) maxTime = Math.max(maxTime, e.time);
  }
  const byRelation = new Map<string, RelationChange[]>();
  for (const c of m.relationHistory) {
    const id = relationIdOf(c);
    byRelation.set(id, [...(byRelation.get(id) ?? []), c]);
  }
  const kept: RelationChange[] = [];
  for (const list of byRelation.values()) {
    list.sort((a, b) => a.position - b.position);
    const rule = r.namespaces?.[list[0]!.subject.namespace] ?? r;
    let rows = rule.maxChanges === undefined ? list : list.slice(-rule.maxChanges);
    const age = rule.maxAgeMs;
    if (age !== undefined) rows = rows.filter((c, i) => i === rows.length - 1 || c.time >= maxTime - age);
    kept.push(...rows);
  }
  return canonicalRelations({ relations: [...m.relations.values()], history: kept });
}

/** Pause a little (event times must differ for retention by age to matter; nothing is asserted on time). */
export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
