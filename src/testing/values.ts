/** Values for the conformance suites: the extended codec types, including the ones that are easy to get wrong. */
import fc from 'fast-check';

/**
 * Arbitrary states with the extended codec types: Date (invalid ones too), Map (keys that are
 * objects, arrays, Dates, Maps), Set (members that are objects), BigInt, Uint8Array, undefined,
 * NaN, ±Infinity and -0, nested.
 */
export function arbitraryExtendedState(): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.date({ noInvalidDate: false }),
    fc.bigInt(),
    fc.uint8Array({ maxLength: 32 }),
    fc.constant(undefined),
    fc.constantFrom(NaN, Infinity, -Infinity, -0),
  );
  const scalar = fc.oneof(fc.string({ maxLength: 6 }), fc.integer(), fc.constantFrom(NaN, -0, 0.5, true, null));
  return fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 4, noNullPrototype: true }),
      // a Map keeps -0 keys as 0 itself; object keys are compared by content after a round trip
      fc.array(fc.tuple(fc.oneof(scalar, tie('node')), tie('node')), { maxLength: 3 }).map((e) => new Map(e)),
      fc.array(fc.oneof(scalar, tie('node')), { maxLength: 4 }).map((e) => new Set(e)),
    ),
  })).node;
}

/**
 * One state holding every value a generator can miss: Map keys that are objects, arrays, Dates and
 * Maps; Sets of objects; NaN and -0 at top level, in arrays, as Map values and Set members.
 */
export function specialState(): Record<string, unknown> {
  return {
    nan: NaN,
    negZero: -0,
    list: [NaN, -0, 0, -Infinity],
    byObject: new Map<unknown, unknown>([
      [{ id: 1, tags: ['a'] }, 'object key'],
      [[1, [2]], 'array key'],
      [new Date(86_400_000), 'date key'],
      [new Map([['inner', 1]]), new Set([{ deep: -0 }])],
      [NaN, -0],
      [{ id: 1, tags: ['a'] }, 'an equal object key is a different key'],
    ]),
    setOfObjects: new Set<unknown>([{ a: 1 }, { a: 1 }, [NaN], new Set([new Map([[{ k: 1 }, -0]])]), -0, NaN, new Date(0)]),
    bytes: new Uint8Array([0, 255]),
    big: -(2n ** 70n),
  };
}

/** True when `v` and everything below it (Map keys included) is frozen; Uint8Array cannot be and is skipped. */
export function isDeepFrozen(v: unknown, seen = new Set<unknown>()): boolean {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) return true;
  seen.add(v);
  if (!Object.isFrozen(v)) return false;
  if (v instanceof Map) return [...v].every(([k, x]) => isDeepFrozen(k, seen) && isDeepFrozen(x, seen));
  if (v instanceof Set) return [...v].every((x) => isDeepFrozen(x, seen));
  return Object.values(v).every((x) => isDeepFrozen(x, seen));
}
