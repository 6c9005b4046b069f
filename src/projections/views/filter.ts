/**
 * Value filters of KV queries: `{ path: 'profile.age', op: 'gte', value: 18 }`. SQLite and
 * PostgreSQL compile them to SQL (sqlite/kv-query.ts, postgres/kv-query.ts); memory and Redis
 * evaluate them here, with the same meaning:
 *
 * - `eq` / `ne` / `in`: the field holds that JSON primitive (`ne` = not `eq`, so a missing field is `ne`).
 * - `gt` `gte` `lt` `lte`: the field and the operand are both numbers or both strings.
 * - `contains`: a string field containing the string, or an array field with an element `eq` the operand.
 * - `startsWith` / `endsWith`: string field and operand.
 *
 * Paths are dotted segments of letters, digits and `_` (a digit-only segment is an array index,
 * or the key of that name in an object), so they can be embedded in SQL as validated literals,
 * which lets expression indexes match. Fields inside Map, Set or Date values are not reachable
 * (their encoded form is tagged), nor fields of an object that has a `$dgent` key (the codec tags
 * it too). In Store queries string operands must not hold NUL or lone surrogates (ValidationError
 * on every backend): PostgreSQL cannot bind them as text or jsonb, and SQLite's length() stops at
 * NUL, so the SQL views could not answer as the others do.
 */
import { ValidationError, shown } from '../../core/errors.js';
import { TAG } from '../../core/codec.js';
import type { KvEntry } from './rows.js';
import { compareKeys } from './keys.js';

export type FilterOp = 'eq' | 'ne' | 'gt' | 'gte' | 'lt' | 'lte' | 'in' | 'contains' | 'startsWith' | 'endsWith';
export type Primitive = string | number | boolean | null;

/** One condition on a value field; several in an array are ANDed. */
export interface ValueFilter {
  path: string;
  op: FilterOp;
  value: Primitive | readonly Primitive[];
}

/** Order of query results by a value field; missing fields come last; ties by key. */
export interface ValueSort {
  path: string;
  direction?: 'asc' | 'desc' | undefined;
}

/** Options of KV `query`. */
export interface QueryOptions {
  sort?: readonly ValueSort[] | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
  /** exclude entries whose expiresAt <= now */
  now?: number | undefined;
}

const OPS = new Set<FilterOp>(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'in', 'contains', 'startsWith', 'endsWith']);
const SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_]*|0|[1-9][0-9]{0,8})$/;

/** Split and check a dotted path (ValidationError on a bad one). */
export function parsePath(path: unknown): string[] {
  if (typeof path !== 'string' || path.length === 0 || path.length > 256) throw new ValidationError(`bad field path ${JSON.stringify(path)}`);
  const segs = path.split('.');
  for (const s of segs) {
    if (!SEGMENT.test(s)) throw new ValidationError(`bad field path ${JSON.stringify(path)}: segments are letters, digits and _ (or an array index)`, [{ message: 'bad segment', path }]);
  }
  return segs;
}

function isPrimitive(v: unknown): v is Primitive {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0));
}

const NUL_OR_LONE_SURROGATE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** An operand every backend can evaluate: a primitive, and a string without NUL or lone surrogates. */
function isOperand(v: unknown): v is Primitive {
  return isPrimitive(v) && (typeof v !== 'string' || !NUL_OR_LONE_SURROGATE.test(v));
}

/**
 * Check filters (one or many) and return them as an array; unknown operators and bad operands are
 * ValidationError. `{ sqlOperands: true }` (the Store's query and count) also refuses string
 * operands with NUL or lone surrogates, which its SQL views cannot evaluate; SQLAgent's history
 * queries accept them and judge those filters in process.
 */
export function validateFilters(filter: ValueFilter | readonly ValueFilter[] | undefined, options: { sqlOperands?: boolean } = {}): ValueFilter[] {
  const strict = options.sqlOperands === true;
  if (filter === undefined) return [];
  const list = Array.isArray(filter) ? [...(filter as ValueFilter[])] : [filter as ValueFilter];
  for (const f of list) {
    if (typeof f !== 'object' || f === null) throw new ValidationError('a filter is an object { path, op, value }');
    parsePath(f.path);
    if (!OPS.has(f.op)) throw new ValidationError(`unknown filter operator ${JSON.stringify(f.op)}`);
    if (f.op === 'in') {
      if (!Array.isArray(f.value) || !f.value.every(isPrimitive)) throw new ValidationError(`'in' needs an array of strings, finite numbers, booleans or null`);
      if (strict && !f.value.every(isOperand)) throw new ValidationError(`'in' operands must not hold NUL or lone surrogates`, [{ message: 'bad operand', path: f.path }]);
    } else if (!isPrimitive(f.value)) throw new ValidationError(`${f.op} needs a string, finite number, boolean or null operand`);
    else if (strict && !isOperand(f.value)) throw new ValidationError(`${f.op}: the operand must not hold NUL or lone surrogates`, [{ message: 'bad operand', path: f.path }]);
    if (['gt', 'gte', 'lt', 'lte'].includes(f.op) && typeof f.value !== 'number' && typeof f.value !== 'string') throw new ValidationError(`${f.op} needs a number or string operand`);
    if (['startsWith', 'endsWith'].includes(f.op) && typeof f.value !== 'string') throw new ValidationError(`${f.op} needs a string operand`);
  }
  return list;
}

/** Check query options (limit and offset integers >= 0, sort paths). */
export function validateQueryOptions(o: QueryOptions | undefined): QueryOptions {
  const opts = o ?? {};
  for (const k of ['limit', 'offset'] as const) {
    const v = opts[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new ValidationError(`${k} must be an integer >= 0, got ${shown(v)}`);
  }
  for (const s of opts.sort ?? []) {
    parsePath(s.path);
    if (s.direction !== undefined && s.direction !== 'asc' && s.direction !== 'desc') throw new ValidationError(`sort direction must be 'asc' or 'desc'`);
  }
  return opts;
}

/** The field at `segs` of a decoded value; undefined when missing or behind a non-plain object. */
export function fieldAt(value: unknown, segs: readonly string[]): unknown {
  let v = value;
  for (const s of segs) {
    if (Array.isArray(v)) v = /^\d+$/.test(s) ? v[Number(s)] : undefined;
    else if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype && !Object.hasOwn(v, TAG)) v = Object.hasOwn(v, s) ? (v as Record<string, unknown>)[s] : undefined;
    else return undefined;
  }
  return v;
}

function eq(x: unknown, v: Primitive): boolean {
  return isPrimitive(x) && x === v;
}

function test(f: ValueFilter, x: unknown): boolean {
  const v = f.value as Primitive;
  switch (f.op) {
    case 'eq': return eq(x, v);
    case 'ne': return !eq(x, v);
    case 'in': return (f.value as Primitive[]).some((o) => eq(x, o));
    case 'gt': case 'gte': case 'lt': case 'lte': {
      if (!isPrimitive(x) || typeof x !== typeof v || (typeof x !== 'number' && typeof x !== 'string')) return false;
      // strings compare by code point, as SQLite (BINARY) and PostgreSQL (COLLATE "C") do
      const c = typeof x === 'number' ? x - (v as number) : compareKeys(x as string, v as string);
      return f.op === 'gt' ? c > 0 : f.op === 'gte' ? c >= 0 : f.op === 'lt' ? c < 0 : c <= 0;
    }
    case 'contains':
      if (typeof x === 'string') return typeof v === 'string' && x.includes(v);
      return Array.isArray(x) && x.some((el) => eq(el, v));
    case 'startsWith': return typeof x === 'string' && x.startsWith(v as string);
    case 'endsWith': return typeof x === 'string' && x.endsWith(v as string);
  }
}

/** True when `entry` matches every filter (and is not expired at `now`). */
export function matches(entry: KvEntry, filters: readonly ValueFilter[], now?: number): boolean {
  if (now !== undefined && entry.expiresAt !== null && entry.expiresAt <= now) return false;
  return filters.every((f) => test(f, fieldAt(entry.value, parsePath(f.path))));
}

function sortKey(x: unknown): [number, number | string] {
  // missing and non-comparable fields sort last, numbers before strings (as SQLite orders them)
  if (typeof x === 'number' && Number.isFinite(x)) return [0, x];
  if (typeof x === 'string') return [1, x];
  return [2, 0];
}

/** Sort, offset and limit entries in process, as the SQL backends do. */
export function sortAndPage(entries: KvEntry[], o: QueryOptions): KvEntry[] {
  const sorts = (o.sort ?? []).map((s) => ({ segs: parsePath(s.path), dir: s.direction === 'desc' ? -1 : 1 }));
  entries.sort((a, b) => {
    for (const s of sorts) {
      const [ta, va] = sortKey(fieldAt(a.value, s.segs));
      const [tb, vb] = sortKey(fieldAt(b.value, s.segs));
      if (ta !== tb) return ta === 2 ? 1 : tb === 2 ? -1 : (ta - tb) * s.dir;
      const c = typeof va === 'number' ? va - (vb as number) : compareKeys(va, vb as string);
      if (c !== 0) return (c < 0 ? -1 : 1) * s.dir;
    }
    return compareKeys(a.key, b.key);
  });
  const start = o.offset ?? 0;
  return entries.slice(start, o.limit === undefined ? undefined : start + o.limit);
}
