/**
 * KV filters as PostgreSQL SQL over the `value_jsonb` column: paths become `value_jsonb #> '{a,b}'`
 * literals (validated segments), so an expression index created by the view's `indexes` option on
 * the same path is used; operands are bound as jsonb. Strings compare by code point (COLLATE "C").
 */
import { parsePath, type Primitive, type QueryOptions, type ValueFilter } from '../filter.js';

/** The jsonb path expression of a dotted path. */
export function jsonbPath(path: string): string {
  return `(value_jsonb #> '{${parsePath(path).join(',')}}')`;
}

function condition(f: ValueFilter, params: unknown[]): string {
  const x = jsonbPath(f.path);
  const t = `jsonb_typeof(${x})`;
  const bind = (v: unknown, cast = '') => (params.push(v), `$${params.length}${cast}`);
  const v = f.value as Primitive;
  switch (f.op) {
    case 'eq': return `(${x} = ${bind(JSON.stringify(v), '::jsonb')})`;
    case 'ne': return `NOT coalesce(${x} = ${bind(JSON.stringify(v), '::jsonb')}, false)`;
    case 'in': return `coalesce(${x} = ANY(${bind((f.value as Primitive[]).map((o) => JSON.stringify(o)), '::jsonb[]')}), false)`;
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
    const x = jsonbPath(s.path);
    const t = `jsonb_typeof(${x})`;
    const dir = s.direction === 'desc' ? 'DESC' : 'ASC';
    terms.push(`(CASE WHEN ${t} IN ('number', 'string') THEN 0 ELSE 1 END)`);
    terms.push(`(CASE ${t} WHEN 'number' THEN 0 WHEN 'string' THEN 1 END) ${dir}`);
    terms.push(`(CASE WHEN ${t} = 'number' THEN (${x})::numeric END) ${dir}`);
    terms.push(`(CASE WHEN ${t} = 'string' THEN ${x} #>> '{}' END) COLLATE "C" ${dir}`);
  }
  terms.push('key');
  return terms.join(', ');
}
