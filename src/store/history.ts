/** History of the Store: a key's versions (newest first) and the audit trail (oldest first). */
import { ValidationError } from '../core/errors.js';
import { validateNamespace } from '../projections/keyed-events.js';
import type { AuditEntry } from '../projections/views/rows.js';
import type { StoreContext } from './context.js';
import { optionalInt, timeOf, toVersion } from './entries.js';
import type { AuditQuery, StoreVersion, VersionsOptions } from './types.js';

export async function versions(ctx: StoreContext, key: string, o: VersionsOptions = {}): Promise<StoreVersion[]> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const limit = optionalInt(o.limit, 'limit', 1);
  await ctx.open();
  await ctx.authorize('read', ns, k, o);
  await ctx.fresh();
  return (await ctx.readers.versions.versions(ns, k, { limit })).map(toVersion);
}

/** Audit entries of a namespace (default `'default'`), oldest first; reading them is an `admin` action. */
export async function audit(ctx: StoreContext, q: AuditQuery = {}): Promise<AuditEntry[]> {
  if (typeof q !== 'object' || q === null) throw new ValidationError('audit takes a filter object');
  const ns = validateNamespace(q.namespace ?? 'default');
  const key = q.key === undefined ? undefined : ctx.key(q.key, ns);
  for (const f of ['actor', 'operation', 'principal'] as const) if (q[f] !== undefined && typeof q[f] !== 'string') throw new ValidationError(`audit: ${f} must be a string`);
  const filter = {
    namespace: ns,
    key,
    actor: q.actor,
    operation: q.operation,
    since: timeOf(q.since, 'since'),
    until: timeOf(q.until, 'until'),
    limit: optionalInt(q.limit, 'limit', 1),
  };
  await ctx.open();
  await ctx.authorize('admin', ns, key, { actor: q.principal });
  await ctx.fresh();
  return ctx.readers.audit.audit(filter);
}
