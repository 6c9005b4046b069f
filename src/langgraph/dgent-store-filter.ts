/**
 * LangGraph search filters (`{ field: value }`, `{ field: { $gt: 3 } }`) as Store query filters.
 * Conditions on a top-level field with a plain name and a primitive operand are pushed down to the
 * Store's query (SQL on SQLite and PostgreSQL); the rest are evaluated in process on the results,
 * with the same meaning:
 *
 * - plain value and `$eq`: the field equals the operand (a JSON primitive; objects and arrays compare
 *   deeply); `$ne`: not `$eq` (a missing field is `$ne`);
 * - `$gt` `$gte` `$lt` `$lte`: field and operand are both numbers or both strings (strings by code point);
 * - `$in` / `$nin`: an array operand; the field equals one / none of its elements.
 */
import { isDeepStrictEqual } from 'node:util';
import { ValidationError } from '../core/errors.js';
import { compareKeys } from '../projections/views/keys.js';
import type { ValueFilter } from '../store/types.js';

type Primitive = string | number | boolean | null;
type Op = '$eq' | '$ne' | '$gt' | '$gte' | '$lt' | '$lte' | '$in' | '$nin';
const OPS = new Set<string>(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin']);
const PLAIN_FIELD = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** One condition on a field. */
export interface Condition {
  field: string;
  op: Op;
  operand: unknown;
}

/** The filter split into what the Store's query runs and what is checked in process. */
export interface CompiledFilter {
  pushed: ValueFilter[];
  residual: Condition[];
}

function isPrimitive(v: unknown): v is Primitive {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v) && !Object.is(v, -0));
}

function isOperators(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  // an empty object is no condition, as in LangGraph's stores
  return keys.every((k) => k.startsWith('$'));
}

/** Parse a LangGraph filter; an unknown `$` operator or a non-array `$in`/`$nin` operand is a ValidationError. */
export function parseFilter(filter: unknown): Condition[] {
  if (filter === undefined || filter === null) return [];
  if (typeof filter !== 'object' || Array.isArray(filter)) throw new ValidationError('search filter must be an object { field: value | { $op: value } }');
  const out: Condition[] = [];
  for (const [field, spec] of Object.entries(filter as Record<string, unknown>)) {
    if (!isOperators(spec)) {
      out.push({ field, op: '$eq', operand: spec });
      continue;
    }
    for (const [op, operand] of Object.entries(spec)) {
      if (!OPS.has(op)) throw new ValidationError(`unknown filter operator ${JSON.stringify(op)} on field ${JSON.stringify(field)} (known: ${[...OPS].join(', ')})`);
      if ((op === '$in' || op === '$nin') && !Array.isArray(operand)) throw new ValidationError(`${op} on field ${JSON.stringify(field)} needs an array operand`);
      out.push({ field, op: op as Op, operand });
    }
  }
  return out;
}

function pushable(c: Condition): ValueFilter[] | undefined {
  if (!PLAIN_FIELD.test(c.field)) return undefined;
  const path = c.field;
  switch (c.op) {
    case '$eq': case '$ne':
      return isPrimitive(c.operand) ? [{ path, op: c.op === '$eq' ? 'eq' : 'ne', value: c.operand }] : undefined;
    case '$gt': case '$gte': case '$lt': case '$lte':
      return (typeof c.operand === 'string' || (typeof c.operand === 'number' && isPrimitive(c.operand))) ? [{ path, op: c.op.slice(1) as 'gt', value: c.operand }] : undefined;
    case '$in': {
      const list = c.operand as unknown[];
      if (!list.every(isPrimitive)) return undefined;
      // an empty $in matches nothing: leave it to the process (the Store's 'in' wants elements)
      return list.length === 0 ? undefined : [{ path, op: 'in', value: list }];
    }
    case '$nin': {
      const list = c.operand as unknown[];
      return list.every(isPrimitive) ? list.map((v) => ({ path, op: 'ne' as const, value: v })) : undefined;
    }
  }
}

/** Split conditions into Store filters and conditions left for the process. */
export function compileFilter(conditions: readonly Condition[]): CompiledFilter {
  const pushed: ValueFilter[] = [];
  const residual: Condition[] = [];
  for (const c of conditions) {
    const p = pushable(c);
    if (p) pushed.push(...p);
    else residual.push(c);
  }
  return { pushed, residual };
}

function equal(x: unknown, v: unknown): boolean {
  if (isPrimitive(v) || v === undefined) return x === v;
  return isDeepStrictEqual(x, v);
}

function compare(x: unknown, v: unknown): number | undefined {
  if (typeof x === 'number' && typeof v === 'number' && !Number.isNaN(x) && !Number.isNaN(v)) return x - v;
  if (typeof x === 'string' && typeof v === 'string') return compareKeys(x, v);
  return undefined;
}

/** True when the value meets the condition (the in-process evaluation, same meaning as the pushed-down one). */
export function test(value: Record<string, unknown>, c: Condition): boolean {
  const x = Object.hasOwn(value, c.field) ? value[c.field] : undefined;
  switch (c.op) {
    case '$eq': return equal(x, c.operand);
    case '$ne': return !equal(x, c.operand);
    case '$in': return (c.operand as unknown[]).some((o) => equal(x, o));
    case '$nin': return !(c.operand as unknown[]).some((o) => equal(x, o));
    default: {
      const r = compare(x, c.operand);
      if (r === undefined) return false;
      return c.op === '$gt' ? r > 0 : c.op === '$gte' ? r >= 0 : c.op === '$lt' ? r < 0 : r <= 0;
    }
  }
}

/** True when the value meets every condition. */
export function testAll(value: Record<string, unknown>, conditions: readonly Condition[]): boolean {
  return conditions.every((c) => test(value, c));
}
