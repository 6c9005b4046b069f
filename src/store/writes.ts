/**
 * Writes of the Store: set, delete, setMany, deleteMany and the metadata operations. Each write
 * is one append to the key's stream (`kv:<namespace>/<key>`), whose revision is the key's
 * version, so optimistic concurrency is the log's `expectedRevision`. Events are built (and their
 * values validated by the codec) before anything is appended: bad input appends nothing.
 */
import { StateNotFoundError, ValidationError, shown } from '../core/errors.js';
import { keyedEvents, keyStream, type Metadata } from '../projections/keyed-events.js';
import type { KvEntry } from '../projections/views/rows.js';
import type { ExpectedRevision, NewEvent, StreamAppend } from '../streams/event-log.js';
import type { StoreContext } from './context.js';
import { keyList, optionalInt, timeOf } from './entries.js';
import type { DeleteOptions, EventMetadataOptions, OpOptions, SetMetadataOptions, SetOptions, SetResult } from './types.js';

/** The live entry of a key (undefined when absent or expired), read after this Store's own writes. */
export async function current(ctx: StoreContext, ns: string, key: string): Promise<KvEntry | undefined> {
  await ctx.fresh();
  return ctx.readers.kv.get(ns, key, { now: ctx.now() });
}

/** The key's version for an append that requires it to be absent: its stream's revision (a deleted or expired key keeps its revisions). */
export async function absentRevision(ctx: StoreContext, ns: string, key: string): Promise<number> {
  const row = await ctx.readers.kv.get(ns, key); // an expired row not swept yet still holds the version
  return row?.version ?? ctx.log.revision(keyStream(ns, key));
}

export function ttlOf(ttlMs: unknown): number | undefined {
  if (ttlMs === undefined) return undefined;
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) throw new ValidationError(`ttlMs must be a number > 0, got ${shown(ttlMs)}`);
  return ttlMs;
}

/** `event` with the caller's extra event metadata (`eventMetadata`) beside the Store's own: `operation`, `actor` and `tx` are the Store's only. */
export function withEventMetadata(event: NewEvent, o: EventMetadataOptions | undefined): NewEvent {
  const extra = o?.eventMetadata;
  if (extra === undefined) return event;
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw new ValidationError('eventMetadata must be a plain object');
  const { operation: _o, actor: _a, tx: _t, ...rest } = extra as Record<string, unknown>;
  return { ...event, metadata: { ...rest, ...event.metadata } };
}

/** The `kv.set` event of a value (validated: SerializationError with the path of a bad field). */
export function setEvent(ctx: StoreContext, value: unknown, o: SetOptions, operation = 'set', tx?: string): NewEvent {
  const ttl = ttlOf(o.ttlMs);
  const at = timeOf(o.expiresAt, 'expiresAt');
  if (ttl !== undefined && at !== undefined) throw new ValidationError('set: ttlMs and expiresAt exclude each other');
  const metadata = o.metadata as Metadata | undefined;
  const event = withEventMetadata(keyedEvents.set({ value, metadata, expiresAt: at ?? (ttl === undefined ? null : ctx.now() + ttl) }, ctx.meta(o, operation, tx)), o);
  ctx.checkValueSize(value); // after keyedEvents.set: a value that cannot be encoded is its SerializationError
  return event;
}

export async function set(ctx: StoreContext, key: string, value: unknown, o: SetOptions = {}): Promise<SetResult> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const expected = optionalInt(o.expectedVersion, 'expectedVersion', 0);
  if (o.ifAbsent && expected !== undefined) throw new ValidationError('set: ifAbsent and expectedVersion exclude each other');
  const event = setEvent(ctx, value, o);
  await ctx.open();
  await ctx.authorize('write', ns, k, o);
  const stream = keyStream(ns, k);
  if (expected !== undefined && expected > 0) return { version: (await ctx.append(stream, [event], expected)).revision, written: true };
  if (expected === undefined && !o.ifAbsent) return { version: (await ctx.append(stream, [event], 'any')).revision, written: true };
  // must be absent: a deleted or expired key has revisions, so the expectation is its current revision
  const once = async (): Promise<SetResult> => {
    const live = await current(ctx, ns, k);
    if (live) {
      if (o.ifAbsent) return { version: live.version, written: false };
      return { version: (await ctx.append(stream, [event], 0)).revision, written: true }; // ConcurrencyError, as the caller expected absence
    }
    return { version: (await ctx.append(stream, [event], await absentRevision(ctx, ns, k))).revision, written: true };
  };
  return o.ifAbsent ? ctx.retry(once) : once();
}

export async function del(ctx: StoreContext, key: string, o: DeleteOptions = {}): Promise<boolean> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const expected = optionalInt(o.expectedVersion, 'expectedVersion', 1);
  const event = withEventMetadata(keyedEvents.deleted(ctx.meta(o, 'delete')), o);
  await ctx.open();
  await ctx.authorize('write', ns, k, o);
  const stream = keyStream(ns, k);
  if (expected !== undefined) {
    await ctx.append(stream, [event], expected);
    return true;
  }
  return ctx.retry(async () => {
    const live = await current(ctx, ns, k);
    if (!live) return false;
    await ctx.append(stream, [event], live.version);
    return true;
  });
}

/** One item of setMany. */
export interface SetManyItem {
  key: string;
  value: unknown;
  metadata?: Metadata | undefined;
  ttlMs?: number | undefined;
  /** epoch ms or Date; excludes ttlMs */
  expiresAt?: number | Date | undefined;
}

/**
 * Set several keys: one atomic appendMany where the log has it (all or nothing); on other logs the
 * keys are appended one by one, and a failure leaves the earlier ones written.
 */
export async function setMany(ctx: StoreContext, items: readonly (SetManyItem | readonly [string, unknown])[], o: OpOptions & EventMetadataOptions = {}): Promise<SetResult[]> {
  const ns = ctx.ns(o);
  if (!Array.isArray(items)) throw new ValidationError('setMany needs an array of { key, value } or [key, value]');
  const appends: StreamAppend[] = (items as unknown[]).map((it) => {
    const { key, value, metadata, ttlMs, expiresAt } = Array.isArray(it) ? { key: it[0], value: it[1], metadata: undefined, ttlMs: undefined, expiresAt: undefined } : (it as SetManyItem);
    const k = ctx.key(key, ns);
    return { stream: keyStream(ns, k), events: [setEvent(ctx, value, { ...o, metadata, ttlMs, expiresAt })], expectedRevision: 'any' as ExpectedRevision };
  });
  if (appends.length === 0) return [];
  await ctx.open();
  for (const a of appends) await ctx.authorize('write', ns, a.stream.slice(a.stream.indexOf('/') + 1), o);
  if (ctx.atomicMany || appends.length === 1) return (await ctx.appendMany(appends)).map((r) => ({ version: r.revision, written: true }));
  const out: SetResult[] = [];
  for (const a of appends) out.push({ version: (await ctx.append(a.stream, a.events, 'any')).revision, written: true });
  return out;
}

/** Delete several keys (absent ones are skipped); atomic where the log has appendMany. Resolves to the number deleted. */
export async function deleteMany(ctx: StoreContext, keys: readonly string[], o: OpOptions & EventMetadataOptions = {}): Promise<number> {
  const ns = ctx.ns(o);
  const list = [...new Set(keyList(keys, 'deleteMany').map((k) => ctx.key(k, ns)))];
  if (list.length === 0) return 0;
  await ctx.open();
  for (const k of list) await ctx.authorize('write', ns, k, o);
  return ctx.retry(async () => {
    await ctx.fresh();
    const rows = await ctx.readers.kv.getMany(ns, list, { now: ctx.now() });
    const appends: StreamAppend[] = [];
    rows.forEach((r, i) => {
      if (r) appends.push({ stream: keyStream(ns, list[i]!), events: [withEventMetadata(keyedEvents.deleted(ctx.meta(o, 'delete')), o)], expectedRevision: r.version });
    });
    if (appends.length === 0) return 0;
    if (ctx.atomicMany || appends.length === 1) await ctx.appendMany(appends);
    else for (const a of appends) await ctx.append(a.stream, a.events, a.expectedRevision!);
    return appends.length;
  });
}

export async function getMetadata(ctx: StoreContext, key: string, o: OpOptions = {}): Promise<Metadata | undefined> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  await ctx.open();
  await ctx.authorize('read', ns, k, o);
  const e = await current(ctx, ns, k);
  return e === undefined ? undefined : (e.metadata ?? {});
}

/** Replace (or with `merge`, shallow-merge) a live key's metadata; StateNotFoundError when the key is absent. */
export async function setMetadata(ctx: StoreContext, key: string, metadata: Metadata, o: SetMetadataOptions = {}): Promise<SetResult> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const event = withEventMetadata(keyedEvents.metadata(metadata, o.merge === true, ctx.meta(o, 'setMetadata')), o);
  await ctx.open();
  await ctx.authorize('write', ns, k, o);
  return ctx.retry(async () => {
    const e = await current(ctx, ns, k);
    if (!e) throw new StateNotFoundError(`no value under key ${JSON.stringify(k)} in namespace ${JSON.stringify(ns)}`, k);
    return { version: (await ctx.append(keyStream(ns, k), [event], e.version)).revision, written: true };
  });
}
