/**
 * Change notifications: `subscribe({ namespace?, prefix? }, listener)` follows the log from its head,
 * so it hears writes of every process that shares the log (PostgreSQL NOTIFY, Redis, SQLite polling
 * the file). With async views a change is delivered once the views hold it, so a listener that
 * reads the Store sees the change.
 *
 * Relationships: a relate or unrelate is a change too (unless `relations: false`), delivered with
 * `type` `kv.relation.added` / `kv.relation.removed`, `namespace` and `key` of the subject,
 * `version` the relation's version, and `relation: { subject, predicate, object, related }`. It
 * passes the namespace and prefix filters when its subject or its object does. A relation removed
 * with a key (delete, expiry, purge, namespace drop) is not a change of its own: the key's change
 * (`kv.deleted`, ...) is delivered, and it takes the key's relations with it.
 */
import { ValidationError } from '../core/errors.js';
import { toKeyedEvent, validateNamespace, type KeyRef } from '../projections/keyed-events.js';
import { headPosition } from '../projections/runner/log-head.js';
import type { Subscription } from '../streams/event-log.js';
import type { StoreContext } from './context.js';
import { readable } from './relations.js';

/** One change of one key (or of a namespace: key null). */
export interface StoreChange {
  namespace: string;
  key: string | null;
  /** the keyed event type, e.g. `kv.set`, `kv.deleted`, `kv.expired` */
  type: string;
  operation: string;
  actor: string | null;
  version: number;
  position: number;
  time: number;
  /** the value written, for `kv.set` events (others: read it with get) */
  value?: unknown;
  /** relate / unrelate (`kv.relation.added` / `kv.relation.removed`): the relation; `namespace`/`key` are its subject's, `version` its own */
  relation?: StoreRelationChange | undefined;
}

/** The relation a `kv.relation.added` / `kv.relation.removed` change is about. */
export interface StoreRelationChange {
  subject: KeyRef;
  predicate: string;
  object: KeyRef;
  /** true after a relate, false after an unrelate */
  related: boolean;
}

export interface SubscribeFilter {
  /** only this namespace (default: every namespace) */
  namespace?: string | undefined;
  /** only keys starting with this */
  prefix?: string | undefined;
  /** hear relates and unrelates too (default true) */
  relations?: boolean | undefined;
  /** who listens (access control: `read` on the namespace) */
  actor?: string | undefined;
  /** a listener's error goes here (default: rethrown asynchronously, like an uncaught error) */
  onError?: ((error: unknown) => void) | undefined;
}

/** Stops the subscription; `ready` resolves once it follows the log (changes from then on are delivered). */
export type StoreUnsubscribe = (() => Promise<void>) & { ready: Promise<void> };

export function subscribe(ctx: StoreContext, filter: SubscribeFilter, listener: (change: StoreChange) => void | Promise<void>): StoreUnsubscribe {
  if (typeof listener !== 'function') throw new ValidationError('subscribe needs a listener function');
  const f = filter ?? {};
  const ns = f.namespace === undefined ? undefined : validateNamespace(f.namespace);
  if (f.prefix !== undefined && typeof f.prefix !== 'string') throw new ValidationError('prefix must be a string');
  if (f.relations !== undefined && typeof f.relations !== 'boolean') throw new ValidationError('relations must be a boolean');
  const relations = f.relations ?? true;
  const passes = (k: KeyRef): boolean => (ns === undefined || k.namespace === ns) && (f.prefix === undefined || k.key.startsWith(f.prefix));
  let sub: Subscription | undefined;
  let stopped = false;
  const report = (e: unknown) => {
    if (f.onError) f.onError(e);
    else queueMicrotask(() => {
      throw e;
    });
  };
  const ready = (async () => {
    await ctx.open();
    if (ns !== undefined) await ctx.authorize('read', ns, undefined, f);
    const from = await headPosition(ctx.log);
    if (stopped) return;
    sub = ctx.log.subscribe({ fromPosition: from }, async (r) => {
      const e = toKeyedEvent(r);
      if (!e) return;
      let relation: StoreRelationChange | undefined;
      if (e.type === 'kv.relation.added' || e.type === 'kv.relation.removed') {
        if (!relations || !(passes(e.data.subject) || passes(e.data.object))) return;
        // both ends must be readable by the listener (an end outside the filter's namespace was not authorized yet)
        if (ctx.access.active && !((await readable(ctx, e.data.subject, f)) && (await readable(ctx, e.data.object, f)))) return;
        relation = { subject: e.data.subject, predicate: e.data.predicate, object: e.data.object, related: e.type === 'kv.relation.added' };
      } else {
        if (ns !== undefined && e.namespace !== ns) return;
        if (f.prefix !== undefined && (e.key === null || !e.key.startsWith(f.prefix))) return;
      }
      if (ctx.mode === 'async') await ctx.runner.whenCaughtUp({ position: e.position });
      const change: StoreChange = { namespace: e.namespace, key: e.key, type: e.type, operation: e.operation, actor: e.actor, version: e.version, position: e.position, time: e.time };
      if (e.type === 'kv.set') change.value = e.data.value;
      if (relation) change.relation = relation;
      try {
        await listener(change);
      } catch (err) {
        report(err);
      }
    });
    sub.done.catch((err: unknown) => {
      if (!stopped) report(err);
    });
  })();
  ready.catch(() => undefined);
  ctx.starting.add(ready);
  void ready.finally(() => ctx.starting.delete(ready)).catch(() => undefined);
  const stop = (async () => {
    stopped = true;
    ctx.subscriptions.delete(stop);
    await ready.catch(() => undefined);
    await sub?.close();
  }) as StoreUnsubscribe;
  stop.ready = ready;
  ctx.subscriptions.add(stop);
  return stop;
}
