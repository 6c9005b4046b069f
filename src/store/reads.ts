/**
 * Reads of the Store: get (also time travel), has, getMany, list, query and count. Every read
 * hides expired keys at once by passing the Store's clock to the views (`now`), before the
 * sweeper has appended their expiry.
 */
import { ValidationError } from '../core/errors.js';
import { validateFilters, validateQueryOptions, type ValueFilter } from '../projections/views/filter.js';
import type { StoreContext } from './context.js';
import { keyList, optionalInt, timeOf, toEntry, toResult } from './entries.js';
import { decodeCursor, encodeCursor, globMatcher } from './cursor.js';
import type { GetOptions, ListOptions, ListPage, OpOptions, QueryOptions, QueryResult, StoreEntry } from './types.js';

async function prelude(ctx: StoreContext, key: unknown, o: OpOptions | undefined): Promise<{ ns: string; key: string }> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  await ctx.open();
  await ctx.authorize('read', ns, k, o);
  await ctx.fresh();
  return { ns, key: k };
}

export function get(ctx: StoreContext, key: string, o?: GetOptions): Promise<unknown> {
  if (ctx.direct && o?.at === undefined) {
    // the common case without a single extra await: set up, inline views, no access hook
    let ns: string, k: string;
    try {
      ns = ctx.ns(o);
      k = ctx.key(key, ns);
    } catch (e) {
      return Promise.reject(e);
    }
    if (o?.includeMetadata) return ctx.readers.kv.get(ns, k, { now: ctx.now() }).then((e) => e && toEntry(e));
    return ctx.valueOf(ns, k, ctx.now());
  }
  return getChecked(ctx, key, o);
}

async function getChecked(ctx: StoreContext, key: string, o?: GetOptions): Promise<unknown> {
  const { ns, key: k } = await prelude(ctx, key, o);
  if (o?.at !== undefined) return getAt(ctx, ns, k, o);
  if (!o?.includeMetadata) return ctx.valueOf(ns, k, ctx.now());
  const e = await ctx.readers.kv.get(ns, k, { now: ctx.now() });
  return e && toEntry(e);
}

async function getAt(ctx: StoreContext, ns: string, key: string, o: GetOptions): Promise<unknown> {
  const at = o.at as { version?: unknown; time?: unknown };
  let v;
  let time: number | undefined;
  if (typeof at === 'object' && at !== null && 'version' in at) {
    v = await ctx.readers.versions.at(ns, key, { version: optionalInt(at.version, 'at.version', 1)! });
    if (v && v.version !== at.version) v = undefined; // a version not kept (retention) or never written
  } else if (typeof at === 'object' && at !== null && 'time' in at) {
    time = timeOf(at.time, 'at.time')!;
    v = await ctx.readers.versions.at(ns, key, { time });
  } else throw new ValidationError('at must be { version } or { time }');
  if (v === undefined || v.deleted) return undefined;
  if (time !== undefined && v.expiresAt !== null && v.expiresAt <= time) return undefined;
  if (!o.includeMetadata) return v.value;
  return { key, value: v.value, version: v.version, metadata: v.metadata, createdAt: undefined, updatedAt: v.time, expiresAt: v.expiresAt };
}

export async function has(ctx: StoreContext, key: string, o?: OpOptions): Promise<boolean> {
  const { ns, key: k } = await prelude(ctx, key, o);
  return ctx.readers.kv.has(ns, k, { now: ctx.now() });
}

export async function getMany(ctx: StoreContext, keys: readonly string[], o?: OpOptions & { includeMetadata?: boolean }): Promise<unknown[]> {
  const ns = ctx.ns(o);
  const list = keyList(keys, 'getMany').map((k) => ctx.key(k, ns));
  await ctx.open();
  for (const k of new Set(list)) await ctx.authorize('read', ns, k, o);
  await ctx.fresh();
  const rows = await ctx.readers.kv.getMany(ns, list, { now: ctx.now() });
  return rows.map((e) => (e === undefined ? undefined : o?.includeMetadata ? toEntry(e) : e.value));
}

/** Keys in code point order, a page at a time; the cursor is the last key returned, so pages are stable under concurrent writes. */
export async function list(ctx: StoreContext, o: ListOptions = {}): Promise<ListPage> {
  const ns = ctx.ns(o);
  const limit = optionalInt(o.limit, 'limit', 1);
  if (o.prefix !== undefined && typeof o.prefix !== 'string') throw new ValidationError('prefix must be a string');
  const match = o.pattern === undefined ? undefined : globMatcher(o.pattern);
  let after = o.cursor === undefined ? undefined : decodeCursor(o.cursor);
  await ctx.open();
  await ctx.authorize('read', ns, undefined, o);
  await ctx.fresh();
  const now = ctx.now();
  const items: StoreEntry[] = [];
  const page = match === undefined ? limit : Math.max(100, (limit ?? 0) * 2);
  for (;;) {
    const rows = await ctx.readers.kv.list(ns, { prefix: o.prefix, after, limit: page === undefined ? undefined : page, now });
    for (const r of rows) {
      if (match && !match(r.key)) continue;
      items.push(toEntry(r));
      if (limit !== undefined && items.length === limit) return { items, cursor: encodeCursor(r.key) };
    }
    if (page === undefined || rows.length < page) return { items, cursor: undefined };
    after = rows[rows.length - 1]!.key;
  }
}

export async function query(ctx: StoreContext, filter: ValueFilter | readonly ValueFilter[] | undefined, o: QueryOptions = {}): Promise<QueryResult[]> {
  const ns = ctx.ns(o);
  const filters = validateFilters(filter, { sqlOperands: true });
  const opts = validateQueryOptions({ sort: o.sort, limit: o.limit, offset: o.offset });
  await ctx.open();
  await ctx.authorize('read', ns, undefined, o);
  await ctx.fresh();
  const kv = ctx.readers.kv;
  if (kv.queryRows) return (await kv.queryRows(ns, filters, { ...opts, now: ctx.now() })) as QueryResult[];
  const rows = await kv.query(ns, filters, { ...opts, now: ctx.now() });
  return rows.map(toResult);
}

export async function count(ctx: StoreContext, filter?: ValueFilter | readonly ValueFilter[], o: OpOptions = {}): Promise<number> {
  const ns = ctx.ns(o);
  const filters = validateFilters(filter, { sqlOperands: true });
  await ctx.open();
  await ctx.authorize('read', ns, undefined, o);
  await ctx.fresh();
  return ctx.readers.kv.count(ns, filters, { now: ctx.now() });
}
