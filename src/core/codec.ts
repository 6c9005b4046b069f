/**
 * The codec: how states and event payloads become bytes and come back.
 *
 * JSON plus Date, Map, Set, BigInt, Uint8Array, `undefined` and the non-finite numbers and -0,
 * all round-tripping exactly. Functions, symbols, cycles and class instances that cannot
 * round-trip are rejected with a {@link SerializationError} naming the path of the bad field
 * (`$.tools[2].handler`).
 *
 * Immutability is the trust marker: a value that is deeply frozen (by dgent, by immer's
 * auto-freeze or by the caller) and valid is shared as is, never copied. {@link prepare} copies
 * only what is still mutable, so the result of an immer `produce` on a loaded state costs a walk,
 * not a deep copy. No registry (WeakMap) is kept per node: those cost more than the copy itself.
 *
 * @example
 * ```ts
 * const text = encode({ at: new Date(0), tags: new Set(['a']) });
 * const back = decode<{ at: Date; tags: Set<string> }>(text); // deeply frozen
 * ```
 */
import { CorruptionError } from './errors.js';
import { prep } from './codec/prepare.js';
import { freezePlain, revive } from './codec/revive.js';
import { tree } from './codec/tree.js';
import { TAG, TAG_MARK, walk } from './codec/walk.js';

/**
 * Part of the tag of every tagged value (bytes, dates, maps, ...) in encoded text, as `decode` looks
 * for it (also when another writer escaped the `$`): a text without it holds no tagged value, so no
 * Uint8Array; and the key of the tagged values. For callers that want to skip a walk.
 */
export { TAG, TAG_MARK };

export { deepFreeze, isPrepared } from './codec/freeze.js';

/** Result of {@link prepare}: the frozen, independent value. */
export interface Prepared<T> {
  /** deeply frozen, independent of the input; parts already deeply frozen are shared as they are */
  readonly value: T;
  /** true when the value holds Uint8Array data, which the platform cannot freeze */
  readonly hasBinary: boolean;
}

/**
 * Validate `value` and return a deeply frozen copy that shares nothing mutable with the caller.
 * Already deeply frozen parts (a loaded state, an immer result) are re-used, not copied.
 */
export function prepare<T>(value: T): Prepared<T> {
  return walk((ctx) => {
    const v = prep(value, ctx) as T;
    return { value: v, hasBinary: ctx.bytes };
  });
}

/** Encode a value to its JSON text, validating it (SerializationError with the path). */
export function encode(value: unknown): string {
  return JSON.stringify(walk((ctx) => tree(value, ctx)));
}

/** Encoded size in UTF-8 bytes. */
export function encodedSize(value: unknown): number {
  return Buffer.byteLength(encode(value), 'utf8');
}

/** The JSON-compatible tree of a value (for drivers that take objects, e.g. JSON parameters). */
export function toTree(value: unknown): unknown {
  return walk((ctx) => tree(value, ctx));
}

/** Decode JSON text produced by {@link encode}; the result is deeply frozen. Bad text → CorruptionError. */
export function decode<T = unknown>(text: string, location?: string): T {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new CorruptionError(`stored data is not valid JSON: ${(e as Error).message}`, location, { cause: e });
  }
  if (!text.includes(TAG_MARK)) return freezePlain(parsed) as T;
  return fromTree<T>(parsed, location);
}

/** Revive an already-parsed JSON tree (it is revived in place); the result is deeply frozen. */
export function fromTree<T = unknown>(parsed: unknown, location?: string): T {
  try {
    return revive(parsed) as T;
  } catch (e) {
    if (e instanceof CorruptionError) throw e;
    throw new CorruptionError(`stored data cannot be decoded: ${(e as Error).message}`, location, { cause: e });
  }
}

