/**
 * KV filters as PostgreSQL SQL over the `value_jsonb` column: paths become `value_jsonb #> '{a,b}'`
 * literals (validated segments), so an expression index created by the view's `indexes` option on
 * the same path is used; operands are bound as jsonb. Strings compare by code point (COLLATE "C").
 * A path through a value the codec tagged (a Date, Map, ..., or an object with a `$dgent` key:
 * `{ "$dgent": "Date", "v": 5 }` in the column) finds nothing, as in process (filter.ts).
 */
import { TAG } from '../../../core/codec.js';
import { parsePath, type Primitive, type QueryOptions, type ValueFilter } from '../filter.js';

/** The jsonb path expression of a dotted path. */
export function jsonbPath(path: string): string {
  return `(value_jsonb #> '{${parsePath(path).join(',')}}')`;
}

/** SQL true when no prefix of the path is a tagged codec value (the field is reachable in process). */
function reachable(path: string): string {
  const segs = parsePath(path);
  return `NOT (${segs.map((_, k) => `(value_jsonb #> '{${[...segs.slice(0, k), TAG].join(',')}}') IS NOT NULL`).join(' OR ')})`;
}

/** The field's jsonb expression and its type (NULL where the field is not reachable in process). */
function field(path: string): { x: string; t: string; ok: string } {
  const x = jsonbPath(path);
  const ok = reachable(path);
  return { x, ok, t: `(CASE WHEN ${ok} THEN jsonb_typeof(${x}) END)` };
}

function condition(f: ValueFilter, params: unknown[]): string {
  const { x, t, ok } = field(f.path);
  const bind = (v: unknown, cast = '') => (params.push(v), `$${params.length}${cast}`);
  const v = f.value as Primitive;
  switch (f.op) {
    case 'eq': return `(${x} = ${bind(JSON.stringify(v), '::jsonb')} AND ${ok})`;
    case 'ne': return `NOT coalesce(${x} = ${bind(JSON.stringify(v), '::jsonb')} AND ${ok}, false)`;
    case 'in': return `coalesce(${x} = ANY(${bind((f.value as Primitive[]).map((o) => JSON.stringify(o)), '::jsonb[]')}) AND ${ok}, false)`;
    case 'gt': case 'gte': case 'lt': case 'lte': {
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[f.op];
      if (typeof v === 'number') return `(${t} = 'number' AND ${x} ${op} ${bind(JSON.stringify(v), '::jsonb')})`;
      return `(${t} = 'string' AND (${x} #>> '{}') COLLATE "C" ${op} ${bind(v, '::text')})`;
    }
    case 'contains': {
      const arr = `(${t} = 'array' AND ${x} @> ${bind(JSON.stringify([v]), '::jsonb')})`;
      return typeof v === 'string' ? `((${t} = 'string' AND strpos(${x} #>> '{}', ${bind(v, '::text')}) > 0) OR ${arr})` : arr;
    }
    case 'startsWith': return `(${t} = 'string' AND starts_with(${x} #>> '{}', ${bind(v, '::text')}))`;
    case 'endsWith': {
      const p = bind(v, '::text');
      return `(${t} = 'string' AND right(${x} #>> '{}', length(${p})) = ${p})`;
    }
  }
}

/** WHERE terms (ANDed); parameters appended to `params` (placeholders continue its numbering). */
export function whereFiltersPg(filters: readonly ValueFilter[], params: unknown[]): string {
  return filters.map((f) => condition(f, params)).join(' AND ');
}

/** ORDER BY terms: missing (or non number/string) fields last, numbers before strings, ties by key. */
export function orderByPg(o: QueryOptions): string {
  const terms: string[] = [];
  for (const s of o.sort ?? []) {
    const { x, t } = field(s.path);
    const dir = s.direction === 'desc' ? 'DESC' : 'ASC';
    terms.push(`(CASE WHEN ${t} IN ('number', 'string') THEN 0 ELSE 1 END)`);
    terms.push(`(CASE ${t} WHEN 'number' THEN 0 WHEN 'string' THEN 1 END) ${dir}`);
    terms.push(`(CASE WHEN ${t} = 'number' THEN (${x})::numeric END) ${dir}`);
    terms.push(`(CASE WHEN ${t} = 'string' THEN ${x} #>> '{}' END) COLLATE "C" ${dir}`);
  }
  terms.push('key');
  return terms.join(', ');
}
