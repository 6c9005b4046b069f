/**
 * Namespaces: created explicitly (an event in the namespace's own stream `kv:<namespace>`) or by
 * any event of one of their keys (a set, a delete, a purge's erased event: see the KV view); deleted with every key in one atomic append (each key gets a `kv.deleted`
 * event, so versions and audit show it, then the namespace's `kv.namespace.deleted`).
 */
import { AccessDeniedError, ValidationError } from '../core/errors.js';
import { keyedEvents, keyStream, namespaceStream, validateNamespace } from '../projections/keyed-events.js';
import type { StreamAppend } from '../streams/event-log.js';
import type { StoreContext } from './context.js';
import type { DeleteNamespaceOptions, OpOptions } from './types.js';

async function exists(ctx: StoreContext, ns: string): Promise<boolean> {
  await ctx.fresh();
  return (await ctx.readers.kv.namespaces()).some((n) => n.namespace === ns);
}

/** Create a namespace; resolves to false when it already existed (nothing appended). */
export async function createNamespace(ctx: StoreContext, name: string, o: OpOptions = {}): Promise<boolean> {
  const ns = validateNamespace(name);
  await ctx.open();
  await ctx.authorize('admin', ns, undefined, o);
  if (await exists(ctx, ns)) return false;
  await ctx.append(namespaceStream(ns), [keyedEvents.namespaceCreated(ctx.meta(o, 'createNamespace'))], 'any');
  return true;
}

/** Names of the namespaces the actor may read, in code point order. */
export async function listNamespaces(ctx: StoreContext, o: OpOptions = {}): Promise<string[]> {
  await ctx.open();
  await ctx.fresh();
  const out: string[] = [];
  for (const n of await ctx.readers.kv.namespaces()) {
    try {
      await ctx.authorize('read', n.namespace, undefined, o);
      out.push(n.namespace);
    } catch (e) {
      if (!(e instanceof AccessDeniedError)) throw e;
    }
  }
  return out;
}

/** `kv.deleted` for every key of `ns` still in the KV view (expired ones too), checked against the versions read. */
async function deletions(ctx: StoreContext, ns: string, o: OpOptions, operation: string): Promise<StreamAppend[]> {
  await ctx.fresh();
  const rows = await ctx.readers.kv.list(ns, {});
  return rows.map((r) => ({ stream: keyStream(ns, r.key), events: [keyedEvents.deleted(ctx.meta(o, operation))], expectedRevision: r.version }));
}

async function appendAll(ctx: StoreContext, appends: StreamAppend[]): Promise<void> {
  if (appends.length === 0) return;
  if (ctx.atomicMany || appends.length === 1) await ctx.appendMany(appends);
  else for (const a of appends) await ctx.append(a.stream, a.events, a.expectedRevision ?? 'any');
}

/**
 * Delete a namespace. With keys in it, `recursive: true` deletes them in the same atomic append;
 * without it that is a ValidationError and nothing is appended. Resolves to false when the namespace did not exist.
 */
export async function deleteNamespace(ctx: StoreContext, name: string, o: DeleteNamespaceOptions = {}): Promise<boolean> {
  const ns = validateNamespace(name);
  await ctx.open();
  await ctx.authorize('admin', ns, undefined, o);
  return ctx.retry(async () => {
    if (!(await exists(ctx, ns))) return false;
    const keys = await deletions(ctx, ns, o, 'deleteNamespace');
    if (keys.length > 0 && o.recursive !== true) throw new ValidationError(`namespace ${JSON.stringify(ns)} has ${keys.length} keys: pass { recursive: true } to delete them too`);
    await appendAll(ctx, [...keys, { stream: namespaceStream(ns), events: [keyedEvents.namespaceDeleted(ctx.meta(o, 'deleteNamespace'))], expectedRevision: 'any' }]);
    return true;
  });
}

/** Delete every key of a namespace (it stays); resolves to the number of keys deleted. */
export async function clear(ctx: StoreContext, o: OpOptions = {}): Promise<number> {
  const ns = ctx.ns(o);
  await ctx.open();
  await ctx.authorize('admin', ns, undefined, o);
  return ctx.retry(async () => {
    const appends = await deletions(ctx, ns, o, 'clear');
    await appendAll(ctx, appends);
    return appends.length;
  });
}
