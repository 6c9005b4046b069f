/**
 * KV filters as SQLite SQL over the `value` column (codec text, which is JSON): paths become
 * `json_extract(value, '$.a.b')` literals (validated segments), so an expression index created by
 * the view's `indexes` option on the same path is used; operands are bound.
 *
 * Same meaning as the in-process evaluation (filter.ts), also where JSON paths read differently:
 * - a digit segment names an array element AND an object key (`a.0` on `{ a: { '0': 1 } }`): a
 *   JSON path reads `[0]` on arrays only and `."0"` on objects only, so such a path is built per
 *   row from the type of its prefix (an index is then not used for it);
 * - a path through a value the codec tagged (a Date, Map, Set, BigInt, ..., or an object with a
 *   `$dgent` key: `{ "$dgent": "Date", "v": 5 }` in the text) finds nothing, as in process: the
 *   field's type is taken as NULL there (checked only on rows whose text holds a tag at all);
 * - a stored string may hold NUL (operands cannot): SQLite's text functions (length, substr, instr)
 *   stop there, so `contains`, `startsWith` and `endsWith` work on the UTF-8 bytes (CAST AS BLOB).
 */
import { TAG, TAG_MARK } from '../../../core/codec.js';
import { parsePath, type QueryOptions, type ValueFilter, type Primitive } from '../filter.js';

/** The JSON path literal of a dotted path (segments are validated: safe inside quotes). */
export function jsonPath(path: string): string {
  return `'$${parsePath(path).map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`)).join('')}'`;
}

/**
 * The SQL path expression of segments as the process reads them: a literal when no segment is a
 * digit (the form expression indexes are created with), else built per row (see the file comment).
 */
function rowPath(segs: readonly string[]): string {
  let lit = '$';
  let dyn: string | undefined;
  for (const s of segs) {
    if (/^\d+$/.test(s)) {
      const cur = dyn ?? `'${lit}'`;
      dyn = `(${cur} || CASE json_type(kv.value, ${cur}) WHEN 'object' THEN '."${s}"' ELSE '[${s}]' END)`;
    } else if (dyn === undefined) lit += `.${s}`;
    else dyn = `(${dyn} || '.${s}')`;
  }
  return dyn ?? `'${lit}'`;
}

/** SQL true when no prefix of the path is a tagged codec value (the field is reachable in process). */
function reachable(segs: readonly string[]): string {
  const tagged: string[] = [];
  for (let k = 0; k < segs.length; k++) {
    const prefix = rowPath(segs.slice(0, k));
    tagged.push(`json_type(kv.value, ${prefix.startsWith("'") ? `${prefix.slice(0, -1)}."${TAG}"'` : `(${prefix} || '."${TAG}"')`}) IS NOT NULL`);
  }
  return `(instr(kv.value, '${TAG_MARK}') = 0 OR NOT (${tagged.join(' OR ')}))`;
}

/** The field's value and JSON type expressions (the type is NULL where the field is not reachable in process). */
function field(path: string): { p: string; x: string; t: string } {
  const segs = parsePath(path);
  const p = rowPath(segs);
  return { p, x: `json_extract(kv.value, ${p})`, t: `(CASE WHEN ${reachable(segs)} THEN json_type(kv.value, ${p}) END)` };
}

function typeGuard(t: string, v: Primitive): string {
  if (v === null) return `${t} = 'null'`;
  if (typeof v === 'boolean') return `${t} = '${v ? 'true' : 'false'}'`;
  return typeof v === 'number' ? `${t} IN ('integer', 'real')` : `${t} = 'text'`;
}

function eq(x: string, t: string, v: Primitive, params: unknown[]): string {
  if (v === null || typeof v === 'boolean') return `(${typeGuard(t, v)})`;
  params.push(v);
  return `(${typeGuard(t, v)} AND ${x} = ?)`;
}

function condition(f: ValueFilter, params: unknown[]): string {
  // qualified: inside the json_each subquery a bare `value` would be json_each's own column
  const { p, x, t } = field(f.path);
  const v = f.value as Primitive;
  switch (f.op) {
    case 'eq': return eq(x, t, v, params);
    case 'ne': return `NOT coalesce(${eq(x, t, v, params)}, 0)`;
    case 'in': {
      const list = f.value as Primitive[];
      return list.length === 0 ? '0' : `(${list.map((o) => eq(x, t, o, params)).join(' OR ')})`;
    }
    case 'gt': case 'gte': case 'lt': case 'lte': {
      params.push(v);
      const op = { gt: '>', gte: '>=', lt: '<', lte: '<=' }[f.op];
      return `(${typeGuard(t, v)} AND ${x} ${op} ?)`;
    }
    case 'contains': {
      const each = (guard: string) => `EXISTS (SELECT 1 FROM json_each(kv.value, ${p}) AS j WHERE ${guard})`;
      if (typeof v === 'string') {
        params.push(v, v);
        return `((${t} = 'text' AND instr(CAST(${x} AS BLOB), CAST(? AS BLOB)) > 0) OR (${t} = 'array' AND ${each(`j.type = 'text' AND j.value = ?`)}))`;
      }
      if (typeof v === 'number') {
        params.push(v);
        return `(${t} = 'array' AND ${each(`j.type IN ('integer', 'real') AND j.value = ?`)})`;
      }
      return `(${t} = 'array' AND ${each(typeGuard('j.type', v))})`;
    }
    case 'startsWith':
    case 'endsWith':
      if (v === '') return `(${t} = 'text')`;
      params.push(v, v);
      // on the UTF-8 bytes (a byte match of a whole operand starts at a character boundary): text
      // functions stop at a NUL, and a stored string may hold one (operands cannot)
      return f.op === 'startsWith'
        ? `(${t} = 'text' AND substr(CAST(${x} AS BLOB), 1, length(CAST(? AS BLOB))) = CAST(? AS BLOB))`
        : `(${t} = 'text' AND substr(CAST(${x} AS BLOB), -length(CAST(? AS BLOB))) = CAST(? AS BLOB))`;
  }
}

/** WHERE terms (ANDed) and their parameters, appended to `params`; the KV table must be aliased `kv`. */
export function whereFilters(filters: readonly ValueFilter[], params: unknown[]): string {
  return filters.map((f) => condition(f, params)).join(' AND ');
}

/** ORDER BY terms: missing (or non number/string) fields last, numbers before strings, ties by key. */
export function orderBy(o: QueryOptions): string {
  const terms: string[] = [];
  for (const s of o.sort ?? []) {
    const { x, t } = field(s.path);
    const dir = s.direction === 'desc' ? 'DESC' : 'ASC';
    terms.push(`(CASE WHEN ${t} IN ('integer', 'real', 'text') THEN 0 ELSE 1 END)`);
    terms.push(`(CASE WHEN ${t} IN ('integer', 'real') THEN 0 WHEN ${t} = 'text' THEN 1 END) ${dir}`);
    terms.push(`(CASE WHEN ${t} IN ('integer', 'real', 'text') THEN ${x} END) ${dir}`);
  }
  terms.push('key');
  return terms.join(', ');
}
