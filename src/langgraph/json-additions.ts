/**
 * JSON values that differ only by added object keys: what LangGraph's messages reducer does to a
 * written message (it adds an `id`). Used to store an appended item as a reference to the pending
 * write it came from plus the added keys, instead of a second copy.
 */
import { isDeepStrictEqual } from 'node:util';

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The keys `next` adds to `base` as [path, value] pairs, when `next` is exactly `base` plus those
 * keys (at any depth of plain objects); undefined when anything else differs.
 */
export function addedKeys(base: Json, next: Json, path: string[] = [], out: [string[], Json][] = []): [string[], Json][] | undefined {
  if (isDeepStrictEqual(base, next)) return out;
  if (!isObject(base) || !isObject(next)) return undefined;
  for (const k of Object.keys(base)) if (!Object.hasOwn(next, k)) return undefined;
  for (const [k, v] of Object.entries(next)) {
    if (k === '__proto__') return undefined; // never a path to set on a plain object
    if (!Object.hasOwn(base, k)) out.push([[...path, k], v]);
    else if (!addedKeys(base[k], v, [...path, k], out)) return undefined;
  }
  return out;
}

/** `base` with the added keys set: a copy, or `base` itself changed when `inPlace` (a value the caller owns). */
export function withAdded(base: Json, added: readonly [string[], Json][], inPlace = false): Json {
  if (added.length === 0) return base;
  const copy = (inPlace ? base : structuredClone(base)) as Record<string, Json>;
  for (const [path, value] of added) {
    let o = copy;
    for (const k of path.slice(0, -1)) o = o[k] as Record<string, Json>;
    o[path[path.length - 1]!] = value;
  }
  return copy;
}
