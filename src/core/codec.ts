/**
 * The codec: how states and event payloads become bytes and come back.
 *
 * JSON plus Date, Map, Set, BigInt, Uint8Array, `undefined` and the non-finite numbers and -0,
 * all round-tripping exactly. Functions, symbols, cycles and class instances that cannot
 * round-trip are rejected with a {@link SerializationError} naming the path of the bad field
 * (`$.tools[2].handler`).
 *
 * Every value that passes through {@link prepare} or {@link decode} comes out deeply frozen and
 * is remembered (in a WeakMap) together with its JSON tree. A later save of a state that shares
 * those frozen nodes, such as the result of an immer `produce`, re-uses them as they are: only
 * the changed path is walked and copied.
 *
 * @example
 * ```ts
 * const text = encode({ at: new Date(0), tags: new Set(['a']) });
 * const back = decode<{ at: Date; tags: Set<string> }>(text);
 * ```
 */
import { freeze as immerFreeze } from 'immer';
import { CorruptionError, SerializationError } from './errors.js';

const TAG = '$dgent';

/** Frozen value → its JSON-compatible tree. Membership means "validated, deeply frozen, ours". */
const trusted = new WeakMap<object, unknown>();

/** Containers holding Uint8Array somewhere below: frozen, but copied again on the next save. */
const untrustedWithBytes = new WeakSet<object>();

/** A path segment printed as is (Map and Set positions). */
interface Raw {
  raw: string;
}

interface Ctx {
  keys: (string | number | Raw)[];
  stack: Set<object>;
  /** set when the node just prepared (or a descendant) holds mutable binary data */
  unstable: boolean;
  /** set when a value just prepared has a JSON tree different from itself (tagged types) */
  special: boolean;
}

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

/** The JSON tree of a prepared value (a primitive or a trusted object). */
function treeOf(v: unknown): unknown {
  if (typeof v === 'object' && v !== null) return trusted.get(v);
  return primitiveTree(v);
}

function setKey(target: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(target, k, { value: v, enumerable: true, writable: true, configurable: true });
  else target[k] = v;
}

function bytesToBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** Depth beyond which the walk suspects a cycle and re-checks the path precisely. */
const CYCLE_SUSPECT_DEPTH = 256;

/**
 * Copy, validate and freeze one value. Sets `ctx.special` when the value's JSON tree differs from
 * the value itself (tagged types), so the parent knows whether it needs a separate tree.
 */
function prep(v: unknown, ctx: Ctx): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (!Number.isFinite(v) || Object.is(v, -0)) ctx.special = true;
      return v;
    case 'bigint':
    case 'undefined':
      ctx.special = true;
      return v;
    case 'function':
      return fail(ctx, `cannot serialise a function${(v as { name?: string }).name ? ` (${(v as { name: string }).name})` : ''}`);
    case 'symbol':
      return fail(ctx, 'cannot serialise a symbol');
  }
  if (v === null) return null;
  const obj = v as object;
  // dgent's own frozen nodes are re-used as they are; nodes holding bytes are copied again
  const known = trusted.get(obj);
  if (known !== undefined && !untrustedWithBytes.has(obj) && !(obj instanceof Uint8Array)) {
    if (known !== obj) ctx.special = true;
    return obj;
  }
  // Cycle detection without a per-node Set: a cycle makes the walk arbitrarily deep, so only a
  // deep walk pays for tracking the ancestors (and then reports the exact path).
  if (ctx.keys.length >= CYCLE_SUSPECT_DEPTH) {
    if (ctx.stack.has(obj)) fail(ctx, 'cannot serialise a cyclic reference');
    ctx.stack.add(obj);
  }
  const outer = ctx.unstable;
  const outerSpecial = ctx.special;
  ctx.unstable = false;
  let copy: object;
  let tree: unknown;
  if (Array.isArray(obj)) {
    const n = obj.length;
    const out = new Array<unknown>(n);
    ctx.special = false;
    for (let i = 0; i < n; i++) {
      ctx.keys.push(i);
      out[i] = prep(obj[i], ctx);
      ctx.keys.pop();
    }
    if (ctx.special) {
      const t = new Array<unknown>(n);
      for (let i = 0; i < n; i++) t[i] = treeOf(out[i]);
      tree = t;
    } else tree = out;
    copy = out;
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (proto === Object.prototype || proto === null) {
      if (Object.getOwnPropertySymbols(obj).length > 0) fail(ctx, 'cannot serialise symbol-keyed properties');
      const out: Record<string, unknown> = {};
      const src = obj as Record<string, unknown>;
      const keys = Object.keys(src);
      ctx.special = false;
      let escaped = false;
      for (let i = 0; i < keys.length; i++) {
        const k = keys[i]!;
        ctx.keys.push(k);
        const c = prep(src[k], ctx);
        ctx.keys.pop();
        if (k === '__proto__') setKey(out, k, c);
        else out[k] = c;
        if (k === TAG) escaped = true;
      }
      if (ctx.special || escaped) {
        if (escaped) {
          // a user object that happens to use our tag key: escape it as an entry list
          tree = { [TAG]: 'Object', v: keys.map((k) => [k, treeOf(out[k])]) };
        } else {
          const t: Record<string, unknown> = {};
          for (const k of keys) setKey(t, k, treeOf(out[k]));
          tree = t;
        }
      } else tree = out;
      copy = out;
    } else if (obj instanceof Date) {
      const ms = obj.getTime();
      copy = new Date(ms);
      tree = { [TAG]: 'Date', v: Number.isNaN(ms) ? null : ms };
    } else if (obj instanceof Map) {
      const out = new Map<unknown, unknown>();
      const t: unknown[] = [];
      let i = 0;
      for (const [k, val] of obj) {
        ctx.keys.push({ raw: `<map key #${i}>` });
        const ck = prep(k, ctx);
        ctx.keys.pop();
        ctx.keys.push({ raw: typeof k === 'string' || typeof k === 'number' ? `.get(${JSON.stringify(k)})` : `<map value #${i}>` });
        const cv = prep(val, ctx);
        ctx.keys.pop();
        out.set(ck, cv);
        t.push([treeOf(ck), treeOf(cv)]);
        i++;
      }
      copy = out;
      tree = { [TAG]: 'Map', v: t };
    } else if (obj instanceof Set) {
      const out = new Set<unknown>();
      const t: unknown[] = [];
      let i = 0;
      for (const val of obj) {
        ctx.keys.push({ raw: `<set #${i}>` });
        const cv = prep(val, ctx);
        ctx.keys.pop();
        out.add(cv);
        t.push(treeOf(cv));
        i++;
      }
      copy = out;
      tree = { [TAG]: 'Set', v: t };
    } else if (obj instanceof Uint8Array) {
      copy = new Uint8Array(obj);
      tree = { [TAG]: 'Bytes', v: bytesToBase64(obj) };
      ctx.unstable = true;
    } else {
      const name = (proto && proto.constructor && proto.constructor.name) || 'unknown';
      fail(ctx, `cannot serialise an instance of ${name} (only plain objects, arrays, Date, Map, Set, BigInt and Uint8Array round-trip)`);
    }
  }
  if (ctx.keys.length >= CYCLE_SUSPECT_DEPTH) ctx.stack.delete(obj);
  finish(copy, tree, ctx);
  ctx.special = outerSpecial || tree !== copy;
  ctx.unstable = outer || ctx.unstable;
  return copy;
}

function finish(copy: object, tree: unknown, ctx: Ctx): void {
  if (copy instanceof Uint8Array) {
    trusted.set(copy, tree); // tree is looked up by the parent; the bytes themselves stay mutable
    return;
  }
  if (copy instanceof Date) freezeDate(copy);
  else if (copy instanceof Map || copy instanceof Set) immerFreeze(copy, false);
  else Object.freeze(copy);
  if (tree !== copy && typeof tree === 'object' && tree !== null) Object.freeze(tree);
  // A node that contains mutable bytes is given a tree for its parent, but must be re-walked on
  // the next save: remember that by storing it under a marker instead of trusting it.
  trusted.set(copy, tree);
  if (ctx.unstable) untrustedWithBytes.add(copy);
}


const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((n) => n.startsWith('set'));
function frozenDate(): never {
  throw new TypeError('this Date is part of a frozen dgent state and cannot be modified');
}

/** Dates keep their time in an internal slot that Object.freeze does not protect: shadow the setters. */
function freezeDate(d: Date): void {
  for (const n of DATE_SETTERS) Object.defineProperty(d, n, { value: frozenDate, enumerable: false, writable: false, configurable: false });
  Object.freeze(d);
}

/** Result of {@link prepare}: the frozen, independent copy and its JSON text. */
export interface Prepared<T> {
  /** deeply frozen copy of the input, independent of it; re-used as is where already frozen by dgent */
  readonly value: T;
  /** true when the value holds Uint8Array data, which the platform cannot freeze */
  readonly hasBinary: boolean;
}

/**
 * Validate `value` and return a deeply frozen copy of it that shares nothing mutable with the
 * caller. Nodes already produced by dgent (or by an immer recipe on a dgent state) are re-used.
 */
export function prepare<T>(value: T): Prepared<T> {
  const ctx: Ctx = { keys: [], stack: new Set(), unstable: false, special: false };
  const v = prep(value, ctx) as T;
  return { value: v, hasBinary: ctx.unstable };
}

/** Encode a value (validated as by {@link prepare}) to its JSON text. */
export function encode(value: unknown): string {
  const { value: v } = prepare(value);
  return encodePrepared(v);
}

/** Encode a value that came out of {@link prepare} or {@link decode} (no re-validation). */
export function encodePrepared(value: unknown): string {
  const tree = treeOf(value);
  if (tree === undefined && typeof value === 'object' && value !== null) return encode(value);
  return JSON.stringify(tree);
}

/** Encoded size in UTF-8 bytes. */
export function encodedSize(value: unknown): number {
  return Buffer.byteLength(encode(value), 'utf8');
}

/** Decode JSON text produced by {@link encode}; the result is deeply frozen. Bad text → CorruptionError. */
export function decode<T = unknown>(text: string, location?: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CorruptionError(`stored data is not valid JSON: ${(e as Error).message}`, location, { cause: e });
  }
  return fromTree<T>(parsed, location);
}

/** Revive an already-parsed JSON tree (e.g. a JSONB column); the result is deeply frozen. */
export function fromTree<T = unknown>(tree: unknown, location?: string): T {
  try {
    return revive(tree) as T;
  } catch (e) {
    if (e instanceof CorruptionError) throw e;
    throw new CorruptionError(`stored data cannot be decoded: ${(e as Error).message}`, location, { cause: e });
  }
}

/** The JSON-compatible tree of a value (for drivers that take objects, e.g. JSONB parameters). */
export function toTree(value: unknown): unknown {
  const { value: v } = prepare(value);
  return treeOf(v);
}

/** True when a prepared value's JSON tree is not the value itself. */
function isSpecial(c: unknown): boolean {
  return typeof c === 'object' ? c !== null && trusted.get(c) !== c : treeOf(c) !== c;
}

function holdsBytes(c: unknown): boolean {
  return typeof c === 'object' && c !== null && (c instanceof Uint8Array || untrustedWithBytes.has(c));
}

/** Turn a parsed JSON tree into a frozen value in place, registering each node's tree. */
function revive(node: unknown): unknown {
  if (typeof node !== 'object' || node === null) return node;
  if (Array.isArray(node)) {
    let special = false;
    let bytes = false;
    for (let i = 0; i < node.length; i++) {
      const c = revive(node[i]);
      node[i] = c; // parsed nodes are ours: revive in place, remember the tree separately
      if (!special && isSpecial(c)) special = true;
      if (!bytes && holdsBytes(c)) bytes = true;
    }
    const tree = special ? node.map((c) => treeOf(c)) : node;
    Object.freeze(node);
    trusted.set(node, tree);
    if (bytes) untrustedWithBytes.add(node);
    return node;
  }
  const rec = node as Record<string, unknown>;
  const tag = rec[TAG];
  if (typeof tag === 'string') return reviveTagged(tag, rec);
  let special = false;
  let bytes = false;
  const keys = Object.keys(rec);
  for (const k of keys) {
    const c = revive(rec[k]);
    setKey(rec, k, c);
    if (!special && isSpecial(c)) special = true;
    if (!bytes && holdsBytes(c)) bytes = true;
  }
  let tree: unknown = rec;
  if (special) {
    const t: Record<string, unknown> = {};
    for (const k of keys) setKey(t, k, treeOf(rec[k]));
    tree = t;
  }
  Object.freeze(rec);
  trusted.set(rec, tree);
  if (bytes) untrustedWithBytes.add(rec);
  return rec;
}

function reviveTagged(tag: string, rec: Record<string, unknown>): unknown {
  const v = rec.v;
  let out: object;
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
      if (typeof v !== 'string') throw new CorruptionError('bad tagged BigInt');
      return BigInt(v);
    case 'Date':
      out = new Date(v === null ? NaN : (v as number));
      break;
    case 'Bytes': {
      if (typeof v !== 'string') throw new CorruptionError('bad tagged bytes');
      const b = Buffer.from(v, 'base64');
      out = new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice();
      trusted.set(out, { [TAG]: 'Bytes', v });
      return out;
    }
    case 'Map': {
      if (!Array.isArray(v)) throw new CorruptionError('bad tagged Map');
      const m = new Map<unknown, unknown>();
      for (const e of v as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2) throw new CorruptionError('bad Map entry');
        m.set(revive(e[0]), revive(e[1]));
      }
      out = m;
      break;
    }
    case 'Set': {
      if (!Array.isArray(v)) throw new CorruptionError('bad tagged Set');
      const s = new Set<unknown>();
      for (const e of v as unknown[]) s.add(revive(e));
      out = s;
      break;
    }
    case 'Object': {
      if (!Array.isArray(v)) throw new CorruptionError('bad escaped object');
      const o: Record<string, unknown> = {};
      for (const e of v as unknown[]) {
        if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string') throw new CorruptionError('bad escaped object entry');
        setKey(o, e[0], revive(e[1]));
      }
      out = o;
      break;
    }
    default:
      throw new CorruptionError(`unknown type tag ${JSON.stringify(tag)}`);
  }
  // Build the canonical tree by walking the revived value (cheap: children are trusted now).
  const ctx: Ctx = { keys: [], stack: new Set(), unstable: false, special: false };
  const prepared = prep(out, ctx);
  return prepared;
}

/**
 * Deep-freeze a value in place (plain objects, arrays, Map, Set; Uint8Array cannot be frozen).
 * Prefer {@link prepare}, which also validates and copies.
 */
export function deepFreeze<T>(value: T): T {
  return immerFreeze(value, true);
}

/** True when the value is a dgent-prepared (validated, deeply frozen) object or a primitive. */
export function isPrepared(value: unknown): boolean {
  return typeof value !== 'object' || value === null || (trusted.has(value) && !untrustedWithBytes.has(value) && !(value instanceof Uint8Array));
}
