/** prepare: validate and return a deeply frozen value, re-using what is already deeply frozen. */
import { DATE_SETTERS, MAP_MUTATORS, SET_MUTATORS, isFrozenCollection, isFrozenDate, shadow } from './freeze.js';
import { TAG, badType, checkPrimitive, enter, fail, leave, setKey, type Ctx } from './walk.js';

export function prep(v: unknown, ctx: Ctx): unknown {
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
