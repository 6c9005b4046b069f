/**
 * Random sequences of keyed events with relationships, for the relations view property tests: sets,
 * deletes, expiries, purges, namespace creations and drops, relates and unrelates (alone or two in
 * one appendMany with a shared tx id), over keys and predicates with hostile characters; and the
 * dumps and consistency checks that compare a backend's relations view with the reference model.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import type { EventLog, MultiStreamAppender, NewEvent, RecordedEvent } from '../src/streams/event-log.js';
import { keyedEvents, keyStream, namespaceStream, relationStream, toKeyedEvent, type KeyRef } from '../src/projections/keyed-events.js';
import { canonicalDump, dumpModel, dumpRelationsModel, emptyModel, foldKeyed, type ViewsDump } from '../src/projections/model.js';
import { canonicalRelations, relationIdOf, type RelationChange, type RelationEntry, type RelationsDump } from '../src/projections/views/relations/rows.js';
import type { RelationsReader } from '../src/projections/views/relations/types.js';
import { compareKeys } from '../src/projections/views/keys.js';
import type { AuditReader, KvReader, VersionsReader } from '../src/projections/views/types.js';

export const NAMESPACES = ['default', 'b'] as const;
export const KEYS = ['a', 'a/b', '😀', 'a:b*'] as const;
export const PREDICATES = ['follows', 'a/b:c*', 'ü 😀', "x'); DROP TABLE t; --"] as const;

export type RelOpKind = 'set' | 'delete' | 'expire' | 'purge' | 'nsCreate' | 'nsDelete' | 'relate' | 'unrelate';
export interface RelOp {
  kind: RelOpKind;
  ns: number;
  key: number;
  ons: number;
  okey: number;
  p: number;
  /** append together with the next op (one transaction) */
  group: boolean;
  actor: number;
}

export const relOpArb: fc.Arbitrary<RelOp> = fc.record({
  kind: fc.constantFrom<RelOpKind>('set', 'set', 'relate', 'relate', 'relate', 'unrelate', 'unrelate', 'delete', 'expire', 'purge', 'nsCreate', 'nsDelete'),
  ns: fc.nat({ max: NAMESPACES.length - 1 }),
  key: fc.nat({ max: KEYS.length - 1 }),
  ons: fc.nat({ max: NAMESPACES.length - 1 }),
  okey: fc.nat({ max: KEYS.length - 1 }),
  p: fc.nat({ max: PREDICATES.length - 1 }),
  group: fc.boolean(),
  actor: fc.nat({ max: 2 }),
});
export const relOpsArb = fc.array(relOpArb, { minLength: 1, maxLength: 30 });

/** The namespaces of one run (a prefix keeps runs sharing a log apart). */
export const namespacesOf = (run: string): string[] => NAMESPACES.map((n) => run + n);

function appendFor(op: RelOp, run: string, tx: string | undefined): { stream: string; events: NewEvent[] } {
  const m = { actor: `actor${op.actor}`, ...(tx ? { tx } : {}) };
  const s: KeyRef = { namespace: run + NAMESPACES[op.ns]!, key: KEYS[op.key]! };
  const o: KeyRef = { namespace: run + NAMESPACES[op.ons]!, key: KEYS[op.okey]! };
  const p = PREDICATES[op.p]!;
  switch (op.kind) {
    case 'set': return { stream: keyStream(s.namespace, s.key), events: [keyedEvents.set({ value: { n: op.p } }, m)] };
    case 'delete': return { stream: keyStream(s.namespace, s.key), events: [keyedEvents.deleted(m)] };
    case 'expire': return { stream: keyStream(s.namespace, s.key), events: [keyedEvents.expired(1_000, m)] };
    case 'purge': return { stream: keyStream(s.namespace, s.key), events: [keyedEvents.purged(m)] };
    case 'nsCreate': return { stream: namespaceStream(s.namespace), events: [keyedEvents.namespaceCreated(m)] };
    case 'nsDelete': return { stream: namespaceStream(s.namespace), events: [keyedEvents.namespaceDeleted(m)] };
    case 'relate': return { stream: relationStream(s, p, o), events: [keyedEvents.relationAdded(s, p, o, m)] };
    case 'unrelate': return { stream: relationStream(s, p, o), events: [keyedEvents.relationRemoved(s, p, o, m)] };
  }
}

/** Append the ops' events (a grouped pair in one appendMany); returns how many were appended. */
export async function appendRelOps(log: EventLog & MultiStreamAppender, ops: readonly RelOp[], run = ''): Promise<number> {
  let count = 0;
  let txn = 0;
  for (let i = 0; i < ops.length; i++) {
    const group = ops[i]!.group && i + 1 < ops.length ? [ops[i]!, ops[i + 1]!] : [ops[i]!];
    const tx = group.length > 1 ? `${run}tx${++txn}` : undefined;
    const appends = group.map((op) => appendFor(op, run, tx));
    if (appends.length === 1) await log.append(appends[0]!.stream, appends[0]!.events);
    else await log.appendMany(appends);
    count += appends.length;
    i += group.length - 1;
  }
  return count;
}

export { readAll } from './projections-views-support.js';

/** The events of the run's namespaces (relation events by their subject's namespace). */
export function ofRun(events: readonly RecordedEvent[], keep: (namespace: string) => boolean): RecordedEvent[] {
  return events.filter((e) => {
    const k = toKeyedEvent(e);
    return k !== undefined && keep(k.namespace);
  });
}

/** The reference model's three views and relations view for `events`; its relations are checked against {@link naiveRelations} first. */
export function models(events: readonly RecordedEvent[]): { views: ViewsDump; relations: RelationsDump } {
  const m = foldKeyed(emptyModel(), events);
  const relations = dumpRelationsModel(m);
  expect(relations, 'model.ts vs the naive fold of this test').toEqual(naiveRelations(events));
  return { views: dumpModel(m), relations };
}

/**
 * The relations as the docs define them, written here without the code's step: a relate makes the
 * relation live (keeping when it first became live), an unrelate removes it, and a key's delete,
 * expiry or namespace drop removes every relation naming it (a history row each); a purge removes
 * them and every history row naming the key.
 */
export function naiveRelations(events: readonly RecordedEvent[]): RelationsDump {
  const live = new Map<string, RelationEntry>();
  let history: RelationChange[] = [];
  const names = (r: { subject: KeyRef; object: KeyRef }, ns: string, key?: string) =>
    [r.subject, r.object].some((k) => k.namespace === ns && (key === undefined || k.key === key));
  for (const r of events) {
    const e = toKeyedEvent(r);
    if (!e) continue;
    const row = (x: { subject: KeyRef; predicate: string; object: KeyRef }, version: number, related: boolean): RelationChange =>
      ({ subject: x.subject, predicate: x.predicate, object: x.object, version, related, operation: e.operation, type: e.type, time: e.time, actor: e.actor, position: e.position });
    if (e.type === 'kv.relation.added' || e.type === 'kv.relation.removed') {
      const id = JSON.stringify([e.data.subject.namespace, e.data.subject.key, e.data.predicate, e.data.object.namespace, e.data.object.key]);
      const added = e.type === 'kv.relation.added';
      if (added) live.set(id, { subject: e.data.subject, predicate: e.data.predicate, object: e.data.object, version: e.version, createdAt: live.get(id)?.createdAt ?? e.time, actor: e.actor, position: e.position });
      else live.delete(id);
      history.push(row(e.data, e.version, added));
      continue;
    }
    const gone = e.type === 'kv.namespace.deleted' ? (x: RelationEntry) => names(x, e.namespace) : e.key !== null && ['kv.deleted', 'kv.expired', 'kv.purged'].includes(e.type) ? (x: RelationEntry) => names(x, e.namespace, e.key!) : undefined;
    if (!gone) continue;
    for (const [id, x] of live) {
      if (!gone(x)) continue;
      live.delete(id);
      if (e.type !== 'kv.purged') history.push(row(x, x.version, false));
    }
    if (e.type === 'kv.purged') history = history.filter((h) => !names(h, e.namespace, e.key!));
  }
  return canonicalRelations({ relations: [...live.values()], history });
}

/** The relations view read through its reader (only relations whose subject is in a namespace `keep` accepts). */
export async function dumpRelations(r: RelationsReader, keep: (namespace: string) => boolean = () => true): Promise<RelationsDump> {
  return canonicalRelations({ relations: (await r.all()).filter((x) => keep(x.subject.namespace)), history: (await r.allHistory()).filter((x) => keep(x.subject.namespace)) });
}

export interface KeyedReaders {
  kv: KvReader;
  versions: VersionsReader;
  audit: AuditReader;
}

/** The three keyed views (relation events in the audit view included). */
export async function dumpKeyed(r: KeyedReaders, keep: (namespace: string) => boolean = () => true): Promise<ViewsDump> {
  const f = <T extends { namespace: string }>(rows: T[]) => rows.filter((x) => keep(x.namespace));
  return canonicalDump({ kv: f(await r.kv.all()), namespaces: f(await r.kv.namespaces()), versions: f(await r.versions.all()), audit: f(await r.audit.all()) });
}

/**
 * Both directions agree with the relation set: for every key of the run, `related(key, p)` and
 * `relatedTo(key, p)` (each predicate, and every predicate) are exactly the relations with that
 * subject / object, in the documented order.
 */
export async function checkDirections(r: RelationsReader, expected: RelationsDump, run = '', predicates: readonly (string | undefined)[] = [undefined, ...PREDICATES]): Promise<void> {
  const ids = (rows: { subject: KeyRef; predicate: string; object: KeyRef }[]) => rows.map(relationIdOf);
  for (const ns of namespacesOf(run)) {
    for (const key of KEYS) {
      const k = { namespace: ns, key };
      const is = (a: KeyRef) => a.namespace === ns && a.key === key;
      for (const p of predicates) {
        const want = (side: 'subject' | 'object') => expected.relations.filter((x) => is(x[side]) && (p === undefined || x.predicate === p));
        const fwd = await r.related(k, p);
        const inv = await r.relatedTo(k, p);
        expect(new Set(ids(fwd))).toEqual(new Set(ids(want('subject'))));
        expect(new Set(ids(inv))).toEqual(new Set(ids(want('object'))));
        expect(fwd.map((x) => [x.predicate, x.object.namespace, x.object.key])).toEqual(
          [...fwd].sort((a, b) => compareKeys(a.predicate, b.predicate) || cmp(a.object, b.object)).map((x) => [x.predicate, x.object.namespace, x.object.key]),
        );
        expect(inv.map((x) => [x.predicate, x.subject.namespace, x.subject.key])).toEqual(
          [...inv].sort((a, b) => compareKeys(a.predicate, b.predicate) || cmp(a.subject, b.subject)).map((x) => [x.predicate, x.subject.namespace, x.subject.key]),
        );
      }
    }
  }
}

function cmp(a: KeyRef, b: KeyRef): number {
  return compareKeys(a.namespace, b.namespace) || compareKeys(a.key, b.key);
}

/**
 * The audit view by key: for every key of the run, `audit({ namespace, key })` is exactly the
 * model's entries that are the key's own or a relate / unrelate naming it as object (decided
 * from the logged events, not from the entries' metadata), in position order; and each relation
 * entry's metadata is its `{ predicate, object }`.
 */
export async function checkAuditByKey(audit: AuditReader, events: readonly RecordedEvent[], expected: ViewsDump, run = ''): Promise<void> {
  const byPosition = new Map(events.map((r) => [r.position, toKeyedEvent(r)]));
  for (const a of expected.audit) {
    const e = byPosition.get(a.position);
    if (e && (e.type === 'kv.relation.added' || e.type === 'kv.relation.removed')) expect(a.metadata).toEqual({ predicate: e.data.predicate, object: e.data.object });
  }
  for (const ns of namespacesOf(run)) {
    for (const key of KEYS) {
      const want = expected.audit.filter((a) => {
        if (a.namespace === ns && a.key === key) return true;
        const e = byPosition.get(a.position);
        return e !== undefined && (e.type === 'kv.relation.added' || e.type === 'kv.relation.removed') && e.data.object.namespace === ns && e.data.object.key === key;
      });
      expect(await audit.audit({ namespace: ns, key }), `audit of ${ns}/${key}`).toEqual(want);
    }
  }
}
