/**
 * Encoding of a state that re-uses the text of the top-level fields it shares with the state
 * encoded before. A new state usually comes from the last one (`{ ...last, step: n }`, an immer
 * `produce`), which keeps every unchanged field as the same, deeply frozen object: its encoding
 * cannot have changed, so only the changed fields are encoded and the object text is assembled
 * around them. The text is byte-for-byte what `encode` returns for the same state (the codec
 * encodes a plain object or array as the JSON object or array of its fields' encodings, in
 * `Object.keys` order; the tests compare the two).
 *
 * Only one level is cached (the fields of the top-level object or the items of the top-level
 * array), so the memory kept is at most the text of one state. Which fields may be re-used:
 * objects whose text holds no codec tag at all (so no Uint8Array, the one thing a frozen state
 * can still have mutable), or that `isPrepared` confirms are deeply frozen and free of bytes.
 * The same fields need no validation walk either when the next state is prepared ({@link
 * FieldEncoder.prepare}): they were valid and can no longer change.
 */
import { encode, isPrepared, prepare, TAG, TAG_MARK } from '../../core/codec.js';

/** What {@link FieldEncoder.encode} found out besides the text. */
export interface Encoded {
  text: string;
  /** false: the state certainly holds no Uint8Array; undefined: not known (look if it matters) */
  binary: false | undefined;
}

interface Field {
  value: unknown;
  text: string;
}

/** A field value's encoding. Plain JSON primitives are spelled directly; everything else goes through the codec. */
function encodeValue(v: unknown): string {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'number':
      if (Number.isFinite(v) && !Object.is(v, -0)) return JSON.stringify(v);
      return encode(v);
    default:
      return v === null ? 'null' : encode(v);
  }
}

/** One per agent: remembers the encoded fields of the last state it encoded. */
export class FieldEncoder {
  /** object fields of the last state encoded, by key (by index for an array state) */
  private fields = new Map<string | number, Field>();

  /**
   * `prepare(state).value` for a plain-object state, without walking the object fields it shares
   * with the last state encoded (valid, deeply frozen and free of bytes, so `prepare` would return
   * them as they are); the other fields are prepared as usual and the object is frozen (or copied
   * and frozen) as `prepare` does. undefined when this does not apply (not a plain object, nothing
   * encoded yet, a symbol or tag key) or a field is invalid: then prepare the whole state, which
   * also reports the error with its full path.
   */
  prepare(state: unknown): unknown {
    const fields = this.fields;
    if (fields.size === 0 || typeof state !== 'object' || state === null || Object.getPrototypeOf(state) !== Object.prototype) return undefined;
    if (Object.prototype.hasOwnProperty.call(state, TAG) || Object.getOwnPropertySymbols(state).length > 0) return undefined;
    const o = state as Record<string, unknown>;
    const keys = Object.keys(o);
    const values = new Array<unknown>(keys.length);
    const shared = new Array<boolean>(keys.length);
    let some = false;
    for (let i = 0; i < keys.length; i++) {
      const v = (values[i] = o[keys[i]!]);
      if ((shared[i] = typeof v === 'object' && v !== null && fields.get(keys[i]!)?.value === v)) some = true;
    }
    if (!some) return undefined; // one walk over the whole state is cheaper then
    let changed = false;
    try {
      for (let i = 0; i < keys.length; i++) {
        if (shared[i]) continue;
        const v = values[i];
        if ((values[i] = prepare(v).value) !== v) changed = true;
      }
    } catch {
      return undefined;
    }
    if (!changed && Object.isFrozen(o)) return o;
    const out: Record<string, unknown> = {};
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === '__proto__') Object.defineProperty(out, k, { value: values[i], enumerable: true, writable: true, configurable: true });
      else out[k] = values[i];
    }
    return Object.freeze(out);
  }

  /**
   * Encode a state that has been validated and deeply frozen (`prepare`d, or decoded). Same text
   * as `encode(state)`.
   */
  encode(state: unknown): Encoded {
    if (typeof state !== 'object' || state === null) return this.whole(state);
    const proto = Object.getPrototypeOf(state) as unknown;
    if (proto === Array.prototype && Array.isArray(state)) return this.fieldsOf(state as unknown[], undefined);
    if (proto === Object.prototype && !Object.prototype.hasOwnProperty.call(state, TAG) && typeof (state as { toJSON?: unknown }).toJSON !== 'function') {
      const keys = Object.keys(state);
      return this.fieldsOf(keys.map((k) => (state as Record<string, unknown>)[k]), keys);
    }
    return this.whole(state);
  }

  private whole(state: unknown): Encoded {
    this.fields = new Map();
    return { text: encode(state), binary: undefined };
  }

  /** The array (keys undefined) or object text of these values. */
  private fieldsOf(values: readonly unknown[], keys: readonly string[] | undefined): Encoded {
    const before = this.fields;
    const after = new Map<string | number, Field>();
    let binary: false | undefined = false;
    let text = keys === undefined ? '[' : '{';
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      let t: string;
      if (typeof v === 'object' && v !== null) {
        const id = keys === undefined ? i : keys[i]!;
        const known = before.get(id);
        if (known !== undefined && known.value === v) {
          t = known.text;
          after.set(id, known);
        } else {
          t = encode(v);
          if (!t.includes(TAG_MARK) || isPrepared(v)) after.set(id, { value: v, text: t });
          else binary = undefined; // holds bytes (or is not frozen): never re-used
        }
      } else t = encodeValue(v);
      if (i > 0) text += ',';
      text += keys === undefined ? t : `${JSON.stringify(keys[i])}:${t}`;
    }
    this.fields = after;
    return { text: text + (keys === undefined ? ']' : '}'), binary };
  }
}
