/** decode side: revive tagged values in a parsed JSON tree, in place, and freeze it. */
import { CorruptionError } from '../errors.js';
import { DATE_SETTERS, MAP_MUTATORS, SET_MUTATORS, shadow } from './freeze.js';
import { TAG, setKey } from './walk.js';

export function freezePlain(v: unknown): unknown {
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

export function revive(node: unknown): unknown {
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
