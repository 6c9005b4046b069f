/**
 * The codec: how states and event payloads become bytes and come back.
 *
 * JSON plus Date, Map, Set, BigInt, Uint8Array, `undefined` and the non-finite numbers and -0,
 * all round-tripping exactly. Functions, symbols, cycles and class instances that cannot
 * round-trip are rejected with a {@link SerializationError} naming the path of the bad field
 * (`$.tools[2].handler`).
 *
 * Immutability is the trust marker: a value that is deeply frozen (by dgent, by immer's
 * auto-freeze or by the caller) and valid is shared as is, never copied. {@link prepare} copies
 * only what is still mutable, so the result of an immer `produce` on a loaded state costs a walk,
 * not a deep copy. No registry (WeakMap) is kept per node: those cost more than the copy itself.
 *
 * @example
 * ```ts
 * const text = encode({ at: new Date(0), tags: new Set(['a']) });
 * const back = decode<{ at: Date; tags: Set<string> }>(text); // deeply frozen
 * ```
 */
import { CorruptionError, SerializationError } from './errors.js';

const TAG = '$dgent';
/** Text without this cannot hold a tag (it also catches a `$` spelled as an escape by other writers). */
const TAG_MARK = 'dgent"';

/** A path segment printed as is (Map and Set positions). */
interface Raw {
  raw: string;
}

interface Ctx {
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

const newCtx = (trackAll = false): Ctx => ({ keys: [], stack: new Set(), special: false, bytes: false, trackAll });

/** Thrown inside a walk that got deep enough to suspect a cycle; the walk restarts tracking ancestors. */
const DEEP = Symbol('deep');

/** Run a walk cheaply; if it gets suspiciously deep, run it again tracking ancestors for an exact cycle path. */
function walk<R>(fn: (ctx: Ctx) => R): R {
  try {
    return fn(newCtx());
  } catch (e) {
    if (e !== DEEP) throw e;
    return fn(newCtx(true));
  }
}

/** Depth beyond which the walk suspects a cycle and tracks ancestors to report the exact path. */
const CYCLE_SUSPECT_DEPTH = 200;

const NUM_NAN = Object.freeze({ [TAG]: 'Number', v: 'NaN' });
const NUM_INF = Object.freeze({ [TAG]: 'Number', v: 'Infinity' });
const NUM_NINF = Object.freeze({ [TAG]: 'Number', v: '-Infinity' });
const NUM_NZERO = Object.freeze({ [TAG]: 'Number', v: '-0' });
const UNDEF = Object.freeze({ [TAG]: 'Undefined' });

function pathOf(keys: readonly (string | number | Raw)[]): string {
  let p = '$';
  for (const k of keys) {
    if (typeof k === 'number') p += `[${k}]`;
    else if (typeof k === 'object') p += k.raw;
    else if (/^[A-Za-z_$][\w$]*$/.test(k)) p += `.${k}`;
    else p += `[${JSON.stringify(k)}]`;
  }
  return p;
}

function fail(ctx: Ctx, message: string): never {
  throw new SerializationError(message, pathOf(ctx.keys));
}

function setKey(target: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
  else target[k] = v;
}

// ---------------------------------------------------------------------------------------------
// Freezing. Object.freeze does not protect the internal slots of Date, Map and Set: their
// mutators are shadowed by throwing own properties, which also marks them as frozen by dgent.

function frozenMutation(): never {
  throw new TypeError('this value is part of a frozen dgent state and cannot be modified');
}
const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((n) => n.startsWith('set'));
const MAP_MUTATORS = ['set', 'delete', 'clear'];
const SET_MUTATORS = ['add', 'delete', 'clear'];

function shadow(o: object, names: readonly string[]): void {
  for (const n of names) Object.defineProperty(o, n, { value: frozenMutation, enumerable: false, writable: false, configurable: false });
  Object.freeze(o);
}

/** Frozen by dgent or by immer (whose frozen Map/Set also throw on mutation). */
function isFrozenCollection(o: Map<unknown, unknown> | Set<unknown>): boolean {
  return Object.isFrozen(o) && Object.prototype.hasOwnProperty.call(o, 'clear');
}
function isFrozenDate(d: Date): boolean {
  return Object.isFrozen(d) && Object.prototype.hasOwnProperty.call(d, 'setTime');
}

function badType(ctx: Ctx, obj: object): never {
  const proto = Object.getPrototypeOf(obj) as { constructor?: { name?: string } } | null;
  const name = proto?.constructor?.name || 'unknown';
  return fail(ctx, `cannot serialise an instance of ${name} (only plain objects, arrays, Date, Map, Set, BigInt and Uint8Array round-trip)`);
}

function checkPrimitive(v: unknown, ctx: Ctx): void {
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

function enter(obj: object, ctx: Ctx): void {
  if (ctx.trackAll) {
    if (ctx.stack.has(obj)) fail(ctx, 'cannot serialise a cyclic reference');
    ctx.stack.add(obj);
  } else if (ctx.keys.length >= CYCLE_SUSPECT_DEPTH) throw DEEP;
}
function leave(obj: object, ctx: Ctx): void {
  if (ctx.trackAll) ctx.stack.delete(obj);
}

// ---------------------------------------------------------------------------------------------
// prepare: validate and return a deeply frozen value, re-using what is already deeply frozen.

function prep(v: unknown, ctx: Ctx): unknown {
  if (typeof v !== 'object' || v === null) {
    checkPrimitive(v, ctx);
    return v;
  }
  enter(v, ctx);
  let out: unknown;
  if (Array.isArray(v)) out = prepArray(v, ctx);
  else {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) out = prepObject(v as Record<string, unknown>, ctx);
    else if (v instanceof Date) {
      ctx.special = true;
      if (isFrozenDate(v)) out = v;
      else {
        const d = new Date(v.getTime());
        shadow(d, DATE_SETTERS);
        out = d;
      }
    } else if (v instanceof Map) out = prepMap(v, ctx);
    else if (v instanceof Set) out = prepSet(v, ctx);
    else if (v instanceof Uint8Array) {
      ctx.special = true;
      ctx.bytes = true;
      out = new Uint8Array(v); // bytes cannot be frozen: always an independent copy
    } else badType(ctx, v);
  }
  leave(v, ctx);
  return out;
}

function prepArray(a: unknown[], ctx: Ctx): unknown[] {
  const n = a.length;
  let copy: unknown[] | undefined;
  for (let i = 0; i < n; i++) {
    const c = a[i];
    ctx.keys.push(i);
    const p = prep(c, ctx);
    ctx.keys.pop();
    if (p !== c && copy === undefined) copy = a.slice(0, i);
    if (copy !== undefined) copy.push(p);
  }
  if (copy === undefined) {
    if (Object.isFrozen(a)) return a;
    copy = a.slice();
  }
  return Object.freeze(copy) as unknown[];
}

function prepObject(o: Record<string, unknown>, ctx: Ctx): Record<string, unknown> {
  if (Object.getOwnPropertySymbols(o).length > 0) fail(ctx, 'cannot serialise symbol-keyed properties');
  const keys = Object.keys(o);
  let changed = false;
  const vals = new Array<unknown>(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (k === TAG) ctx.special = true;
    const c = o[k];
    ctx.keys.push(k);
    const p = prep(c, ctx);
    ctx.keys.pop();
    vals[i] = p;
    if (p !== c) changed = true;
  }
  if (!changed && Object.isFrozen(o)) return Object.getPrototypeOf(o) === null ? copyObject(keys, vals) : o;
  return copyObject(keys, vals);
}

function copyObject(keys: string[], vals: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) setKey(out, keys[i]!, vals[i]);
  return Object.freeze(out);
}

function prepMap(m: Map<unknown, unknown>, ctx: Ctx): Map<unknown, unknown> {
  ctx.special = true;
  const out = new Map<unknown, unknown>();
  let changed = false;
  let i = 0;
  for (const [k, val] of m) {
    ctx.keys.push({ raw: `<map key #${i}>` });
    const pk = prep(k, ctx);
    ctx.keys.pop();
    ctx.keys.push({ raw: typeof k === 'string' || typeof k === 'number' ? `.get(${JSON.stringify(k)})` : `<map value #${i}>` });
    const pv = prep(val, ctx);
    ctx.keys.pop();
    if (pk !== k || pv !== val) changed = true;
    out.set(pk, pv);
    i++;
  }
  if (!changed && isFrozenCollection(m)) return m;
  shadow(out, MAP_MUTATORS);
  return out;
}

function prepSet(s: Set<unknown>, ctx: Ctx): Set<unknown> {
  ctx.special = true;
  const out = new Set<unknown>();
  let changed = false;
  let i = 0;
  for (const val of s) {
    ctx.keys.push({ raw: `<set #${i}>` });
    const pv = prep(val, ctx);
    ctx.keys.pop();
    if (pv !== val) changed = true;
    out.add(pv);
    i++;
  }
  if (!changed && isFrozenCollection(s)) return s;
  shadow(out, SET_MUTATORS);
  return out;
}

// ---------------------------------------------------------------------------------------------
// tree: validate and return the JSON-compatible tree, copying only where tagged types sit.

function primitiveTree(v: unknown): unknown {
  switch (typeof v) {
    case 'number':
      if (Number.isFinite(v)) return Object.is(v, -0) ? NUM_NZERO : v;
      return Number.isNaN(v) ? NUM_NAN : v > 0 ? NUM_INF : NUM_NINF;
    case 'bigint':
      return { [TAG]: 'BigInt', v: v.toString() };
    case 'undefined':
      return UNDEF;
    default:
      return v;
  }
}

function tree(v: unknown, ctx: Ctx): unknown {
  if (typeof v !== 'object' || v === null) {
    checkPrimitive(v, ctx);
    return primitiveTree(v);
  }
  enter(v, ctx);
  let out: unknown;
  if (Array.isArray(v)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const c = v[i];
      ctx.keys.push(i);
      const t = tree(c, ctx);
      ctx.keys.pop();
      if (t !== c && copy === undefined) copy = v.slice(0, i);
      if (copy !== undefined) copy.push(t);
    }
    out = copy ?? v;
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      const o = v as Record<string, unknown>;
      if (Object.getOwnPropertySymbols(o).length > 0) fail(ctx, 'cannot serialise symbol-keyed properties');
      const keys = Object.keys(o);
      let copy: unknown[] | undefined;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        const c = o[k];
        ctx.keys.push(k);
        const t = tree(c, ctx);
        ctx.keys.pop();
        if (t !== c && copy === undefined) copy = keys.slice(0, i).map((kk) => o[kk]);
        if (copy !== undefined) copy.push(t);
      }
      if (Object.prototype.hasOwnProperty.call(o, TAG)) {
        // a user object that happens to use our tag key: escape it as an entry list
        out = { [TAG]: 'Object', v: keys.map((k, i) => [k, copy ? copy[i] : o[k]]) };
      } else if (copy) {
        const t: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) setKey(t, keys[i]!, copy[i]);
        out = t;
      } else out = o;
    } else if (v instanceof Date) {
      const ms = v.getTime();
      out = { [TAG]: 'Date', v: Number.isNaN(ms) ? null : ms };
    } else if (v instanceof Map) {
      const entries: unknown[] = [];
      let i = 0;
      for (const [k, val] of v) {
        ctx.keys.push({ raw: `<map key #${i}>` });
        const tk = tree(k, ctx);
        ctx.keys.pop();
        ctx.keys.push({ raw: typeof k === 'string' || typeof k === 'number' ? `.get(${JSON.stringify(k)})` : `<map value #${i}>` });
        entries.push([tk, tree(val, ctx)]);
        ctx.keys.pop();
        i++;
      }
      out = { [TAG]: 'Map', v: entries };
    } else if (v instanceof Set) {
      const items: unknown[] = [];
      let i = 0;
      for (const val of v) {
        ctx.keys.push({ raw: `<set #${i}>` });
        items.push(tree(val, ctx));
        ctx.keys.pop();
        i++;
      }
      out = { [TAG]: 'Set', v: items };
    } else if (v instanceof Uint8Array) {
      out = { [TAG]: 'Bytes', v: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
    } else badType(ctx, v);
  }
  leave(v, ctx);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Public API

/** Result of {@link prepare}: the frozen, independent value. */
export interface Prepared<T> {
  /** deeply frozen, independent of the input; parts already deeply frozen are shared as they are */
  readonly value: T;
  /** true when the value holds Uint8Array data, which the platform cannot freeze */
  readonly hasBinary: boolean;
}

/**
 * Validate `value` and return a deeply frozen copy that shares nothing mutable with the caller.
 * Already deeply frozen parts (a loaded state, an immer result) are re-used, not copied.
 */
export function prepare<T>(value: T): Prepared<T> {
  return walk((ctx) => {
    const v = prep(value, ctx) as T;
    return { value: v, hasBinary: ctx.bytes };
  });
}

/** Encode a value to its JSON text, validating it (SerializationError with the path). */
export function encode(value: unknown): string {
  return JSON.stringify(walk((ctx) => tree(value, ctx)));
}

/** Same as {@link encode}; kept for callers that encode a value they prepared. */
export function encodePrepared(value: unknown): string {
  return encode(value);
}

/** Encoded size in UTF-8 bytes. */
export function encodedSize(value: unknown): number {
  return Buffer.byteLength(encode(value), 'utf8');
}

/** The JSON-compatible tree of a value (for drivers that take objects, e.g. JSON parameters). */
export function toTree(value: unknown): unknown {
  return walk((ctx) => tree(value, ctx));
}

/** Decode JSON text produced by {@link encode}; the result is deeply frozen. Bad text → CorruptionError. */
export function decode<T = unknown>(text: string, location?: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CorruptionError(`stored data is not valid JSON: ${(e as Error).message}`, location, { cause: e });
  }
  if (!text.includes(TAG_MARK)) return freezePlain(parsed) as T;
  return fromTree<T>(parsed, location);
}

/** Revive an already-parsed JSON tree (it is revived in place); the result is deeply frozen. */
export function fromTree<T = unknown>(parsed: unknown, location?: string): T {
  try {
    return revive(parsed) as T;
  } catch (e) {
    if (e instanceof CorruptionError) throw e;
    throw new CorruptionError(`stored data cannot be decoded: ${(e as Error).message}`, location, { cause: e });
  }
}

/** Deep-freeze a freshly parsed plain JSON tree in place. */
function freezePlain(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const c: unknown = v[i];
      if (typeof c === 'object' && c !== null) freezePlain(c);
    }
  } else {
    for (const k in v) {
      const c = (v as Record<string, unknown>)[k];
      if (typeof c === 'object' && c !== null) freezePlain(c);
    }
  }
  return Object.freeze(v);
}

function revive(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) node[i] = revive(node[i]);
    return Object.freeze(node);
  }
  const rec = node as Record<string, unknown>;
  const tag = rec[TAG];
  if (typeof tag === 'string') return reviveTagged(tag, rec);
  for (const k of Object.keys(rec)) {
    const before = rec[k];
    const after = revive(before);
    if (after !== before) setKey(rec, k, after);
  }
  return Object.freeze(rec);
}

function reviveTagged(tag: string, rec: Record<string, unknown>): unknown {
  const v = rec.v;
  switch (tag) {
    case 'Number':
      if (v === 'NaN') return NaN;
      if (v === 'Infinity') return Infinity;
      if (v === '-Infinity') return -Infinity;
      if (v === '-0') return -0;
      throw new CorruptionError(`bad tagged number ${String(v)}`);
    case 'Undefined':
      return undefined;
    case 'BigInt':
      if (typeof v !== 'string' || !/^-?\d+$/.test(v)) throw new CorruptionError('bad tagged BigInt');
      return BigInt(v);
    case 'Date': {
      if (v !== null && typeof v !== 'number') throw new CorruptionError('bad tagged Date');
      const d = new Date(v === null ? NaN : v);
      shadow(d, DATE_SETTERS);
      return d;
    }
    case 'Bytes': {
      if (typeof v !== 'string') throw new CorruptionError('bad tagged bytes');
      const b = Buffer.from(v, 'base64');
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
    }
    case 'Map': {
      if (!Array.isArray(v)) throw new CorruptionError('bad tagged Map');
      const m = new Map<unknown, unknown>();
      for (const e of v as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2) throw new CorruptionError('bad Map entry');
        m.set(revive(e[0]), revive(e[1]));
      }
      shadow(m, MAP_MUTATORS);
      return m;
    }
    case 'Set': {
      if (!Array.isArray(v)) throw new CorruptionError('bad tagged Set');
      const s = new Set<unknown>();
      for (const e of v as unknown[]) s.add(revive(e));
      shadow(s, SET_MUTATORS);
      return s;
    }
    case 'Object': {
      if (!Array.isArray(v)) throw new CorruptionError('bad escaped object');
      const o: Record<string, unknown> = {};
      for (const e of v as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string') throw new CorruptionError('bad escaped object entry');
        setKey(o, e[0], revive(e[1]));
      }
      return Object.freeze(o);
    }
    default:
      throw new CorruptionError(`unknown type tag ${JSON.stringify(tag)}`);
  }
}

/**
 * Deep-freeze a value in place (plain objects, arrays, Date, Map, Set; Uint8Array cannot be
 * frozen). Prefer {@link prepare}, which also validates and copies.
 */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<object>();
  const go = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof Uint8Array) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, x] of v) (go(k), go(x));
      if (!isFrozenCollection(v)) shadow(v, MAP_MUTATORS);
    } else if (v instanceof Set) {
      for (const x of v) go(x);
      if (!isFrozenCollection(v)) shadow(v, SET_MUTATORS);
    } else if (v instanceof Date) {
      if (!isFrozenDate(v)) shadow(v, DATE_SETTERS);
    } else {
      for (const k of Object.keys(v)) go((v as Record<string, unknown>)[k]);
      Object.freeze(v);
    }
  };
  go(value);
  return value;
}

/**
 * True when the value can be shared as is: deeply frozen (Date/Map/Set frozen by dgent or immer)
 * and free of Uint8Array, which cannot be frozen. Walks the value; does not validate types.
 */
export function isPrepared(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (value instanceof Uint8Array) return false;
  if (value instanceof Date) return isFrozenDate(value);
  if (value instanceof Map) {
    if (!isFrozenCollection(value)) return false;
    for (const [k, v] of value) if (!isPrepared(k) || !isPrepared(v)) return false;
    return true;
  }
  if (value instanceof Set) {
    if (!isFrozenCollection(value)) return false;
    for (const v of value) if (!isPrepared(v)) return false;
    return true;
  }
  if (!Object.isFrozen(value)) return false;
  for (const k of Object.keys(value)) if (!isPrepared((value as Record<string, unknown>)[k])) return false;
  return true;
}
