/**
 * The SQLite log's JSON fast path must be indistinguishable from the codec: same text for every
 * value (or the same error), same decoded value (deeply frozen) for every text the codec writes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode } from '../src/core/codec.js';
import { CorruptionError, SerializationError } from '../src/core/errors.js';
import { decodeFast, encodeFast } from '../src/streams/sqlite/json.js';
import { isDeepFrozen } from '../src/testing/event-log-support.js';

/** Values the codec accepts, with the special cases the fast path must hand over to it. */
const value = fc.letrec((tie) => ({
  leaf: fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }), // lone surrogates, control characters
    fc.double(), // NaN, ±Infinity, -0
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    fc.bigInt(),
    fc.date(),
    fc.constantFrom('$dgent', '\\u0024dgent'),
  ),
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, tie('leaf'), tie('array'), tie('object'), tie('special')),
  array: fc.array(tie('tree'), { maxLength: 4 }),
  object: fc.dictionary(fc.oneof(fc.string(), fc.constantFrom('$dgent', '__proto__', 'toJSON')), tie('tree'), { maxKeys: 4 }),
  special: fc.oneof(
    fc.array(tie('tree'), { maxLength: 3 }).map((a) => new Set(a)),
    fc.array(fc.tuple(fc.string(), tie('tree')), { maxLength: 3 }).map((e) => new Map(e)),
    fc.uint8Array({ maxLength: 4 }),
  ),
}));

describe('SQLite JSON fast path', () => {
  it('encodeFast gives the codec\'s text and decodeFast the codec\'s value, deeply frozen (property)', () => {
    fc.assert(
      fc.property(value.tree, (v) => {
        const text = encode(v);
        expect(encodeFast(v)).toBe(text);
        const back = decodeFast(text);
        expect(back).toStrictEqual(decode(text));
        expect(isDeepFrozen(back)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('encodeFast hands every value JSON.stringify would get wrong to the codec', () => {
    const hole = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const protoKey = JSON.parse('{"__proto__": {"x": 1}}') as unknown;
    const edge: unknown[] = [-0, NaN, Infinity, -Infinity, { a: -0 }, [1, [NaN]], { u: undefined }, hole, { $dgent: 'Date', v: 0 }, protoKey, Object.create(null), 10n, new Date(3)];
    for (const v of edge) {
      expect(encodeFast(v), encode(v)).toBe(encode(v));
      expect(decodeFast(encode(v))).toStrictEqual(decode(encode(v)));
    }
  });

  it('decodeFast gives the codec\'s value for text written by another tool with \\u escapes spelling the tag', () => {
    const foreign = '{"\\u0024dgent":"Date","v":5}';
    expect(decodeFast(foreign)).toStrictEqual(decode(foreign));
    expect(decodeFast(foreign)).toBeInstanceOf(Date);
  });

  it('encodeFast rejects what the codec rejects, with the same SerializationError path', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: unknown[] = [{ f: () => 1 }, [1, Symbol('s')], cyclic, { deep: { x: new (class Foo {})() } }, { [Symbol('k')]: 1 }];
    for (const bad of cases) {
      let expected: unknown;
      try {
        encode(bad);
      } catch (e) {
        expected = e;
      }
      expect(expected).toBeInstanceOf(SerializationError);
      expect(() => encodeFast(bad)).toThrow(expect.objectContaining({ path: (expected as SerializationError).path }) as Error);
    }
  });

  it('decodeFast of text that is not JSON throws CorruptionError with the location', () => {
    expect(() => decodeFast('{"a":', 'events.db', 7)).toThrow(CorruptionError);
    expect(() => decodeFast('{"a":', 'events.db', 7)).toThrow(/events\.db position 7/);
  });
});
