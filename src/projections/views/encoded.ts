/**
 * The codec text of a view value, computed once per value: the KV and versions views both store
 * the value of every set, and values decoded from the log are deeply frozen objects, so the text
 * of such an object never changes and can be remembered by identity (a second `encode` per event
 * was ~4% of a rebuild's CPU profile). Primitives and unfrozen objects are encoded each time.
 */
import { encode } from '../../core/codec.js';

const texts = new WeakMap<object, string>();

/** `encode(value)`, remembered for frozen objects. */
export function encodeValue(value: unknown): string {
  // plain objects and arrays only: a frozen Date or Map still changes through its methods
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value) || !(Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype)) return encode(value);
  let t = texts.get(value);
  if (t === undefined) texts.set(value, (t = encode(value)));
  return t;
}
