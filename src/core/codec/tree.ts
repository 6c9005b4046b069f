/** tree: validate and return the JSON-compatible tree, copying only where tagged types sit. */
import { NUM_INF, NUM_NAN, NUM_NINF, NUM_NZERO, TAG, UNDEF, badType, checkPrimitive, enter, fail, leave, setKey, type Ctx } from './walk.js';

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

export function tree(v: unknown, ctx: Ctx): unknown {
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
