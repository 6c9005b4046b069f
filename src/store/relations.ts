/**
 * Relationships between Store keys: `relate(subject, predicate, object)`, `unrelate`, `related`
 * (subject -> objects), `relatedTo` (object -> subjects) and `relationHistory`.
 *
 * A relation is written as a keyed event (`kv.relation.added` / `kv.relation.removed`) in its own
 * stream, `rel:<sha256 of the triple>`, whose revision is the relation's version; the relations view
 * (`kv_relations`) folds those events, and also the removals of keys (delete, expiry, purge,
 * namespace drop), so both directions are one view and a key's relations go in the same append
 * that removes the key. The audit view has every relate and unrelate (as an entry of the subject key).
 *
 * - `relate` needs both keys live (StateNotFoundError otherwise). Their versions are checked with the
 *   append (inside it on memory and SQLite logs, just before it elsewhere, as transactions do), so a
 *   relation is never added to a key that was just deleted. Relating a live relation again appends
 *   nothing (`written: false`); the relation's own version is the append's expectation, so two
 *   concurrent relates of one triple append one event.
 * - Access: `write` on the subject and `read` on the object for relate and unrelate; `read` on the
 *   key asked about for the reads, whose answers leave out keys the actor may not read.
 * - An expired key (not swept yet) has no relations for the reads, like every other read path.
 */
import { randomUUID } from 'node:crypto';
import { AccessDeniedError, StateNotFoundError, ValidationError } from '../core/errors.js';
import { keyedEvents, keyStream, relationStream, validateNamespace, validatePredicate, type KeyRef } from '../projections/keyed-events.js';
import { relationsReader } from '../projections/views/relations/projection.js';
import type { RelationChange, RelationEntry } from '../projections/views/relations/rows.js';
import type { RelationsReader } from '../projections/views/relations/types.js';
import type { StoreContext } from './context.js';
import { optionalInt } from './entries.js';
import type { ReadCheck } from './read-checks.js';
import type { OpOptions } from './types.js';

/** A key in a relation: a key of the operation's namespace (`options.namespace`, default `'default'`), or `{ namespace, key }`. */
export type RelationKey = string | { namespace?: string | undefined; key: string };
/** What `relate` resolves to: the relation's version, and whether this call appended (false: it was already live). */
export interface RelateResult {
  version: number;
  written: boolean;
}
/** Options of `relationHistory`. */
export interface RelationHistoryOptions extends OpOptions {
  /** at most this many changes (newest first) */
  limit?: number | undefined;
}
export type { KeyRef, RelationChange, RelationEntry };

const readers = new WeakMap<StoreContext, RelationsReader>();

/** The relations view's reader of this Store (one per context). */
export function reader(ctx: StoreContext): RelationsReader {
  let r = readers.get(ctx);
  if (!r) readers.set(ctx, (r = relationsReader(ctx.storage)));
  return r;
}

/** A relation key of an operation, validated. */
export function ref(ctx: StoreContext, k: RelationKey, o: OpOptions, what: string): KeyRef {
  if (typeof k === 'string') {
    const namespace = ctx.ns(o);
    return { namespace, key: ctx.key(k, namespace) };
  }
  if (typeof k !== 'object' || k === null) throw new ValidationError(`${what} must be a key or { namespace, key }`);
  const namespace = validateNamespace(k.namespace ?? o.namespace ?? 'default');
  return { namespace, key: ctx.key(k.key, namespace) };
}

export interface Triple {
  subject: KeyRef;
  predicate: string;
  object: KeyRef;
  stream: string;
}

/** The validated triple of an operation, with its stream. */
export function triple(ctx: StoreContext, subject: RelationKey, predicate: string, object: RelationKey, o: OpOptions): Triple {
  if (typeof o !== 'object' || o === null) throw new ValidationError('options must be an object');
  const s = ref(ctx, subject, o, 'subject');
  const p = validatePredicate(predicate);
  const ob = ref(ctx, object, o, 'object');
  return { subject: s, predicate: p, object: ob, stream: relationStream(s, p, ob) };
}

async function authorizeWrite(ctx: StoreContext, t: Triple, o: OpOptions): Promise<void> {
  await ctx.authorize('write', t.subject.namespace, t.subject.key, o);
  await ctx.authorize('read', t.object.namespace, t.object.key, o);
}

/** The live KV entry's version of `k` (undefined when absent or expired). */
async function liveVersion(ctx: StoreContext, k: KeyRef): Promise<number | undefined> {
  return (await ctx.readers.kv.get(k.namespace, k.key, { now: ctx.now() }))?.version;
}

/** Relate `subject -predicate-> object` (both live keys). */
export async function relate(ctx: StoreContext, subject: RelationKey, predicate: string, object: RelationKey, o: OpOptions = {}): Promise<RelateResult> {
  const t = triple(ctx, subject, predicate, object, o);
  await ctx.open();
  await authorizeWrite(ctx, t, o);
  return ctx.retry(async () => {
    await ctx.fresh();
    const live = await reader(ctx).get(t.subject, t.predicate, t.object);
    const checks: ReadCheck[] = [];
    for (const [what, k] of [['subject', t.subject], ['object', t.object]] as const) {
      const version = await liveVersion(ctx, k);
      if (version === undefined) throw new StateNotFoundError(`${what} ${k.namespace}/${k.key}`);
      checks.push({ stream: keyStream(k.namespace, k.key), key: k.key, expected: version });
    }
    if (live) return { version: live.version, written: false };
    const tx = randomUUID();
    const event = keyedEvents.relationAdded(t.subject, t.predicate, t.object, ctx.meta(o, 'relate', tx));
    const expected = await ctx.log.revision(t.stream);
    return { version: (await ctx.readChecks.run(tx, checks, () => ctx.append(t.stream, [event], expected))).revision, written: true };
  });
}

/** Remove `subject -predicate-> object`; false when it was not live (nothing appended). */
export async function unrelate(ctx: StoreContext, subject: RelationKey, predicate: string, object: RelationKey, o: OpOptions = {}): Promise<boolean> {
  const t = triple(ctx, subject, predicate, object, o);
  await ctx.open();
  await authorizeWrite(ctx, t, o);
  return ctx.retry(async () => {
    await ctx.fresh();
    const live = await reader(ctx).get(t.subject, t.predicate, t.object);
    if (!live) return false;
    await ctx.append(t.stream, [keyedEvents.relationRemoved(t.subject, t.predicate, t.object, ctx.meta(o, 'unrelate'))], live.version);
    return true;
  });
}

/** Whether the actor may read `k` (false on AccessDeniedError). */
export async function readable(ctx: StoreContext, k: KeyRef, o: OpOptions): Promise<boolean> {
  try {
    await ctx.authorize('read', k.namespace, k.key, o);
    return true;
  } catch (e) {
    if (e instanceof AccessDeniedError) return false;
    throw e;
  }
}

/** Keep the relations whose other end is live and readable (the key asked about was checked by the caller). */
async function visible(ctx: StoreContext, rows: RelationEntry[], other: (r: RelationEntry) => KeyRef, o: OpOptions): Promise<RelationEntry[]> {
  const now = ctx.now();
  const byNs = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = other(r);
    let s = byNs.get(k.namespace);
    if (!s) byNs.set(k.namespace, (s = new Set()));
    s.add(k.key);
  }
  const live = new Set<string>();
  for (const [ns, keys] of byNs) {
    const list = [...keys];
    const entries = await ctx.readers.kv.getMany(ns, list, { now });
    entries.forEach((e, i) => e && live.add(`${ns}/${list[i]}`));
  }
  const out: RelationEntry[] = [];
  for (const r of rows) {
    const k = other(r);
    if (live.has(`${k.namespace}/${k.key}`) && (await readable(ctx, k, o))) out.push(r);
  }
  return out;
}

async function lookup(ctx: StoreContext, key: RelationKey, predicate: string | undefined, o: OpOptions, dir: 'related' | 'relatedTo'): Promise<RelationEntry[]> {
  if (typeof o !== 'object' || o === null) throw new ValidationError('options must be an object');
  const k = ref(ctx, key, o, dir === 'related' ? 'subject' : 'object');
  const p = predicate === undefined ? undefined : validatePredicate(predicate);
  await ctx.open();
  await ctx.authorize('read', k.namespace, k.key, o);
  await ctx.fresh();
  if ((await liveVersion(ctx, k)) === undefined) return []; // expired, not swept yet: its relations are gone too
  const r = reader(ctx);
  return dir === 'related' ? visible(ctx, await r.related(k, p), (x) => x.object, o) : visible(ctx, await r.relatedTo(k, p), (x) => x.subject, o);
}

/** The live relations of `subject` (with `predicate`, or every predicate), by predicate then object. */
export function related(ctx: StoreContext, subject: RelationKey, predicate: string | undefined, o: OpOptions = {}): Promise<RelationEntry[]> {
  return lookup(ctx, subject, predicate, o, 'related');
}

/** The live relations pointing at `object` (with `predicate`, or every predicate), by predicate then subject. */
export function relatedTo(ctx: StoreContext, object: RelationKey, predicate: string | undefined, o: OpOptions = {}): Promise<RelationEntry[]> {
  return lookup(ctx, object, predicate, o, 'relatedTo');
}

/** The changes of one relation, newest first: relates, unrelates and removals with a key (a purge erases them). */
export async function relationHistory(ctx: StoreContext, subject: RelationKey, predicate: string, object: RelationKey, o: RelationHistoryOptions = {}): Promise<RelationChange[]> {
  const t = triple(ctx, subject, predicate, object, o);
  const limit = optionalInt(o.limit, 'limit', 1);
  await ctx.open();
  await ctx.authorize('read', t.subject.namespace, t.subject.key, o);
  await ctx.authorize('read', t.object.namespace, t.object.key, o);
  await ctx.fresh();
  return reader(ctx).history(t.subject, t.predicate, t.object, { limit });
}
