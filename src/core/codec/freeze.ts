/**
 * Freezing. Object.freeze does not protect the internal slots of Date, Map and Set: their mutators
 * are shadowed by throwing own properties, which also marks them as frozen by dgent (or by immer,
 * which does the same for Map and Set).
 */

export function frozenMutation(): never {
  throw new TypeError('this value is part of a frozen dgent state and cannot be modified');
}
export const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((n) => n.startsWith('set'));
export const MAP_MUTATORS = ['set', 'delete', 'clear'];
export const SET_MUTATORS = ['add', 'delete', 'clear'];

export function shadow(o: object, names: readonly string[]): void {
  for (const n of names) Object.defineProperty(o, n, { value: frozenMutation, enumerable: false, writable: false, configurable: false });
  Object.freeze(o);
}

/** Frozen by dgent or by immer (whose frozen Map/Set also throw on mutation). */
export function isFrozenCollection(o: Map<unknown, unknown> | Set<unknown>): boolean {
  return Object.isFrozen(o) && Object.prototype.hasOwnProperty.call(o, 'clear');
}
export function isFrozenDate(d: Date): boolean {
  return Object.isFrozen(d) && Object.prototype.hasOwnProperty.call(d, 'setTime');
}

/**
 * Deep-freeze a value in place (plain objects, arrays, Date, Map, Set; Uint8Array cannot be
 * frozen). Prefer {@link prepare}, which also validates and copies.
 */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<object>();
  const go = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof Uint8Array) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, x] of v) (go(k), go(x));
      if (!isFrozenCollection(v)) shadow(v, MAP_MUTATORS);
    } else if (v instanceof Set) {
      for (const x of v) go(x);
      if (!isFrozenCollection(v)) shadow(v, SET_MUTATORS);
    } else if (v instanceof Date) {
      if (!isFrozenDate(v)) shadow(v, DATE_SETTERS);
    } else {
      for (const k of Object.keys(v)) go((v as Record<string, unknown>)[k]);
      Object.freeze(v);
    }
  };
  go(value);
  return value;
}

/**
 * True when the value can be shared as is: deeply frozen (Date/Map/Set frozen by dgent or immer)
 * and free of Uint8Array, which cannot be frozen. Walks the value; does not validate types.
 */
export function isPrepared(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (value instanceof Uint8Array) return false;
  if (value instanceof Date) return isFrozenDate(value);
  if (value instanceof Map) {
    if (!isFrozenCollection(value)) return false;
    for (const [k, v] of value) if (!isPrepared(k) || !isPrepared(v)) return false;
    return true;
  }
  if (value instanceof Set) {
    if (!isFrozenCollection(value)) return false;
    for (const v of value) if (!isPrepared(v)) return false;
    return true;
  }
  if (!Object.isFrozen(value)) return false;
  for (const k of Object.keys(value)) if (!isPrepared((value as Record<string, unknown>)[k])) return false;
  return true;
}

