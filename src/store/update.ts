/**
 * Read-modify-write of one key: `update` (an immer recipe; the event holds only the patches, so
 * only changed fields travel and are stored) and `incr` (an atomic counter).
 */
import { produceWithPatches, type Draft } from 'immer';
import '../agents/immer-setup.js';
import { runRecipe } from '../agents/recipe-errors.js';
import { CorruptionError, ValidationError } from '../core/errors.js';
import { checkNesting } from '../core/codec/walk.js';
import { keyedEvents, keyStream } from '../projections/keyed-events.js';
import { dropFoldHint, hintFoldFrom, type FoldHint } from '../projections/storage/postgres-fused.js';
import { fieldAt, parsePath } from '../projections/views/filter.js';
import type { KvEntry } from '../projections/views/rows.js';
import type { StoreContext } from './context.js';
import type { IncrOptions, OpOptions } from './types.js';
import { absentRevision, current, setEvent } from './writes.js';

/**
 * An update recipe: mutate the draft, or return a new value. On an absent key it gets `undefined`
 * and must return the value, hence the `| undefined`: the compiler makes the recipe handle it
 * (`(d) => { if (d === undefined) return { n: 1 }; d.n++; }`, or `d!.n++` for a key known to exist).
 */
export type StoreRecipe<T> = (draft: Draft<T> | undefined) => void | T | Draft<T> | undefined;

export async function update<T>(ctx: StoreContext, key: string, recipe: StoreRecipe<T>, o: OpOptions = {}): Promise<T> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  if (typeof recipe !== 'function') throw new ValidationError('update needs a recipe function');
  await ctx.open();
  await ctx.authorize('write', ns, k, o);
  const stream = keyStream(ns, k);
  return ctx.lock(stream, () => ctx.retry(async () => {
    const e = await current(ctx, ns, k);
    if (e === undefined) {
      let value: unknown;
      try {
        value = recipe(undefined);
      } catch (err) {
        // `d.n++` on the undefined draft of an absent key (plain JavaScript, or a cast)
        if (!(err instanceof TypeError)) throw err;
        const v = new ValidationError(`update: key ${JSON.stringify(k)} has no value, so the recipe got undefined and failed on it (${err.message}); return the first value when the draft is undefined`);
        (v as { cause?: unknown }).cause = err;
        throw v;
      }
      if (value === undefined) throw new ValidationError(`update: key ${JSON.stringify(k)} has no value, so the recipe must return one`);
      await ctx.append(stream, [setEvent(ctx, value, o, 'update')], await absentRevision(ctx, ns, k));
      return value as T;
    }
    // a recipe returning a new value: its nesting checked before immer walks it recursively
    const checked = (draft: unknown): unknown => {
      const r = (recipe as (d: unknown) => unknown)(draft);
      if (r !== undefined && r !== draft) checkNesting(r);
      return r;
    };
    const [next, patches] = runRecipe('update', () => produceWithPatches(e.value as T, checked as never));
    if (patches.length === 0) return next as T;
    ctx.checkValueSize(next);
    const event = keyedEvents.patched(patches, ctx.meta(o, 'update'));
    // a PostgreSQL log with inline views writes the folded value in the append's statement (FoldHint)
    const folded = hintFoldFrom(event, stream, e);
    await ctx.append(stream, [event], e.version);
    // the value as stored: the fold of the patches, whose key order can differ from the recipe's
    // result (a key deleted and set again keeps its place)
    try {
      return folded.value() as T;
    } catch {
      return next as T;
    }
  }));
}

function fieldPath(field: unknown): string[] | undefined {
  return field === undefined ? undefined : parsePath(field);
}

/** Whether `by` can be added to `value` at `path`: a number, or missing (counts as 0) under plain objects. */
function incrementable(value: unknown, path: string[] | undefined): boolean {
  if (path === undefined) return value === undefined || typeof value === 'number';
  let v = value;
  for (const seg of path) {
    if (v === undefined) return true;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    v = (v as Record<string, unknown>)[seg];
  }
  return v === undefined || typeof v === 'number';
}

function fresh(by: number, path: string[] | undefined): unknown {
  if (path === undefined) return by;
  let v: unknown = by;
  for (const seg of [...path].reverse()) v = { [seg]: v };
  return v;
}

/**
 * Add `by` to a number (the value, or `field` inside it) and resolve to the new number. With inline
 * views the increment is appended without a version check (the log orders concurrent increments,
 * none is lost); with async views it is checked against the version read and retried.
 */
export async function incr(ctx: StoreContext, key: string, by = 1, o: IncrOptions = {}): Promise<number> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const path = fieldPath(o.field);
  const event = keyedEvents.incremented(by, o.field, ctx.meta(o, 'incr'));
  await ctx.open();
  await ctx.authorize('write', ns, k, o);
  const stream = keyStream(ns, k);
  const notNumber = (row: KvEntry) => new ValidationError(`incr: the value of ${JSON.stringify(k)}${o.field ? ` at ${o.field}` : ''} is not a number`);
  let hint: FoldHint | undefined;
  const version = await ctx.lock(stream, () => ctx.retry(async () => {
    await ctx.fresh();
    const row = await ctx.readers.kv.get(ns, k);
    if (row && row.expiresAt !== null && row.expiresAt <= ctx.now()) {
      // expired but not swept yet: the counter starts again from `by`
      return (await ctx.append(stream, [setEvent(ctx, fresh(by, path), { ...o, metadata: undefined }, 'incr')], row.version)).revision;
    }
    if (row && !incrementable(row.value, path)) throw notNumber(row);
    if (row) hint = hintFoldFrom(event, stream, row);
    else (dropFoldHint(event), (hint = undefined));
    const expected = ctx.mode === 'inline' ? 'any' : (row?.version ?? (await absentRevision(ctx, ns, k)));
    try {
      return (await ctx.append(stream, [event], expected)).revision;
    } catch (e) {
      // inline: a value that stopped being a number since the read aborts the append in the view
      if (e instanceof CorruptionError) {
        const now = await ctx.readers.kv.get(ns, k);
        if (now && !incrementable(now.value, path)) throw notNumber(now);
      }
      throw e;
    }
  }));
  if (hint?.committed) {
    // stored by the fused statement with the value folded from the row read: no read back
    const n = fieldAt(hint.value(), path ?? []);
    return typeof n === 'number' ? n : by;
  }
  await ctx.fresh();
  const v = await ctx.readers.versions.at(ns, k, { version });
  const n = fieldAt(v?.value, path ?? []);
  return typeof n === 'number' ? n : by;
}
