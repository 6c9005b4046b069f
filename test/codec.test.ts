import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { produce } from 'immer';
import { encode, decode, prepare, SerializationError, CorruptionError } from '../src/index.js';
import { arbitraryExtendedState } from '../src/testing/index.js';

describe('codec', () => {
  it('encode then decode round-trips arbitrary extended values exactly', () => {
    fc.assert(
      fc.property(arbitraryExtendedState(), (v) => {
        expect(decode(encode(v))).toStrictEqual(v);
      }),
      { numRuns: 500 },
    );
  });

  it('encoding is stable: encode(decode(text)) === text', () => {
    fc.assert(
      fc.property(arbitraryExtendedState(), (v) => {
        const text = encode(v);
        expect(encode(decode(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('prepare re-uses unchanged frozen subtrees after an immer update', () => {
    const a = prepare({ big: { list: [1, 2, 3], when: new Date(1) }, n: 1 }).value;
    const b = prepare(produce(a, (d) => void (d.n = 2))).value;
    expect(b.big).toBe(a.big);
    expect(b).toStrictEqual({ big: { list: [1, 2, 3], when: new Date(1) }, n: 2 });
    expect(encode(b)).toBe(encode({ big: { list: [1, 2, 3], when: new Date(1) }, n: 2 }));
  });

  it('a user object using the tag key $dgent round-trips', () => {
    const v = { $dgent: 'Date', v: 5, nested: [{ $dgent: 'x' }] };
    expect(decode(encode(v))).toStrictEqual(v);
  });

  it('__proto__ keys are kept as data and never change prototypes', () => {
    const v = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as Record<string, unknown>;
    const back = decode<Record<string, unknown>>(encode(v));
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decode revives tags whose $ another JSON writer escaped as \\u0024', () => {
    expect(decode('{"at":{"\\u0024dgent":"Date","v":5}}')).toStrictEqual({ at: new Date(5) });
  });

  it('frozen Dates reject their setters', () => {
    const d = decode<{ at: Date }>(encode({ at: new Date(5) })).at;
    expect(() => d.setTime(0)).toThrow(TypeError);
    expect(d.getTime()).toBe(5);
  });

  it.each([
    [{ tools: [0, 1, { handler() {} }] }, '$.tools[2].handler'],
    [{ m: new Map([['k', Symbol('s')]]) }, '$.m.get("k")'],
    [{ 'odd key': [() => 1] }, '$["odd key"][0]'],
    [{ s: new Set([1, () => 2]) }, '$.s<set #1>'],
    [{ x: new (class Tool {})() }, '$.x'],
    [{ r: /re/ }, '$.r'],
    [{ f: new Float32Array(2) }, '$.f'],
  ])('rejects %o with SerializationError at %s', (value, path) => {
    const err = (() => {
      try {
        encode(value);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as SerializationError).path).toBe(path);
  });

  it('rejects cycles with the path where the cycle closes, also deep ones', () => {
    const a: Record<string, unknown> = { b: {} };
    (a.b as Record<string, unknown>).back = a;
    expect(() => encode(a)).toThrow(/cyclic reference at \$\.b\.back$/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 400; i++) deep = (deep.c = {}) as Record<string, unknown>;
    deep.loop = root;
    expect(() => encode(root)).toThrow(SerializationError);
  });

  it('decoding text that is not valid JSON or has an unknown tag throws CorruptionError', () => {
    expect(() => decode('{"a":')).toThrow(CorruptionError);
    expect(() => decode('{"$dgent":"Nope"}')).toThrow(CorruptionError);
    expect(() => decode('{"$dgent":"Map","v":5}')).toThrow(CorruptionError);
  });
});

describe('nesting depth', () => {
  const nested = (depth: number, array = false): unknown => {
    const root: unknown[] | Record<string, unknown> = array ? [] : {};
    let at = root;
    for (let i = 1; i < depth; i++) {
      const next = array ? [] : {};
      if (Array.isArray(at)) at.push(next);
      else at.c = next;
      at = next;
    }
    return root;
  };

  it('a value nested 1000 levels deep round-trips; deeper is a SerializationError with its path, never a RangeError', () => {
    for (const array of [false, true]) {
      expect(decode(encode(nested(1000, array)))).toEqual(nested(1000, array));
      for (const depth of [1001, 10_000, 100_000]) {
        let err: unknown;
        try {
          encode(nested(depth, array));
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(SerializationError);
        expect((err as SerializationError).message).toMatch(/nested deeper than 1000 levels at \$/);
        expect(() => prepare(nested(depth, array))).toThrow(SerializationError);
      }
    }
  });
});
