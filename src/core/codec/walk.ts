/** The walk shared by prepare and tree: path tracking, cycle detection, primitive checks. */
import { SerializationError } from '../errors.js';


export const TAG = '$dgent';
/** Text without this cannot hold a tag (it also catches a `$` spelled as an escape by other writers). */
export const TAG_MARK = 'dgent"';

/** A path segment printed as is (Map and Set positions). */
export interface Raw {
  raw: string;
}

export interface Ctx {
  keys: (string | number | Raw)[];
  /** ancestors, tracked only once the walk is deep enough to suspect a cycle */
  stack: Set<object>;
  /** a value just walked has a JSON tree different from itself (tagged types inside) */
  special: boolean;
  /** a value just walked holds Uint8Array data somewhere */
  bytes: boolean;
  /** track every ancestor (second walk after a suspiciously deep first one) */
  trackAll: boolean;
}

export const newCtx = (trackAll = false): Ctx => ({ keys: [], stack: new Set(), special: false, bytes: false, trackAll });

/** Thrown inside a walk that got deep enough to suspect a cycle; the walk restarts tracking ancestors. */
const DEEP = Symbol('deep');

/** Run a walk cheaply; if it gets suspiciously deep, run it again tracking ancestors for an exact cycle path. */
export function walk<R>(fn: (ctx: Ctx) => R): R {
  try {
    return fn(newCtx());
  } catch (e) {
    if (e !== DEEP) throw e;
    return fn(newCtx(true));
  }
}

/** Depth beyond which the walk suspects a cycle and tracks ancestors to report the exact path. */
export const CYCLE_SUSPECT_DEPTH = 200;

export const NUM_NAN = Object.freeze({ [TAG]: 'Number', v: 'NaN' });
export const NUM_INF = Object.freeze({ [TAG]: 'Number', v: 'Infinity' });
export const NUM_NINF = Object.freeze({ [TAG]: 'Number', v: '-Infinity' });
export const NUM_NZERO = Object.freeze({ [TAG]: 'Number', v: '-0' });
export const UNDEF = Object.freeze({ [TAG]: 'Undefined' });

export function pathOf(keys: readonly (string | number | Raw)[]): string {
  let p = '$';
  for (const k of keys) {
    if (typeof k === 'number') p += `[${k}]`;
    else if (typeof k === 'object') p += k.raw;
    else if (/^[A-Za-z_$][\w$]*$/.test(k)) p += `.${k}`;
    else p += `[${JSON.stringify(k)}]`;
  }
  return p;
}

export function fail(ctx: Ctx, message: string): never {
  throw new SerializationError(message, pathOf(ctx.keys));
}

export function setKey(target: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
  else target[k] = v;
}

export function badType(ctx: Ctx, obj: object): never {
  const proto = Object.getPrototypeOf(obj) as { constructor?: { name?: string } } | null;
  const name = proto?.constructor?.name || 'unknown';
  return fail(ctx, `cannot serialise an instance of ${name} (only plain objects, arrays, Date, Map, Set, BigInt and Uint8Array round-trip)`);
}

export function checkPrimitive(v: unknown, ctx: Ctx): void {
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v) || Object.is(v, -0)) ctx.special = true;
      return;
    case 'bigint':
    case 'undefined':
      ctx.special = true;
      return;
    case 'function':
      fail(ctx, `cannot serialise a function${(v as { name?: string }).name ? ` (${(v as { name: string }).name})` : ''}`);
    // falls through (fail never returns)
    case 'symbol':
      fail(ctx, 'cannot serialise a symbol');
  }
}

/** How deep a value may nest (objects, arrays, maps, sets inside one another). */
export const MAX_DEPTH = 1000;

export function enter(obj: object, ctx: Ctx): void {
  if (ctx.trackAll) {
    if (ctx.stack.has(obj)) fail(ctx, 'cannot serialise a cyclic reference');
    // deeper, the walks, JSON and immer would run out of stack (a RangeError, not a typed error)
    if (ctx.keys.length >= MAX_DEPTH) fail(ctx, `cannot serialise a value nested deeper than ${MAX_DEPTH} levels`);
    ctx.stack.add(obj);
  } else if (ctx.keys.length >= CYCLE_SUSPECT_DEPTH) throw DEEP;
}

export function leave(obj: object, ctx: Ctx): void {
  if (ctx.trackAll) ctx.stack.delete(obj);
}

/**
 * SerializationError when `value` nests deeper than {@link MAX_DEPTH} (iterative: it cannot run
 * out of stack itself). For values that recursive code (immer's finalize) walks before the codec.
 */
export function checkNesting(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const seen = new Set<object>();
  const stack: [object, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (seen.has(v)) continue; // a cycle: the codec reports it with its path
    seen.add(v);
    if (depth >= MAX_DEPTH) throw new SerializationError(`cannot serialise a value nested deeper than ${MAX_DEPTH} levels`, '$');
    const children: unknown[] = v instanceof Map ? [...v.keys(), ...v.values()] : v instanceof Set ? [...v] : Object.values(v);
    for (const c of children) if (typeof c === 'object' && c !== null) stack.push([c, depth + 1]);
  }
}
