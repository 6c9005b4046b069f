/**
 * The added-keys diff DgentSaver uses to store an appended message as a reference to the pending
 * write it came from: withAdded(base, addedKeys(base, next)) is next whenever addedKeys answers,
 * and it refuses anything but added keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addedKeys, withAdded } from '../src/langgraph/json-additions.js';

const json = fc.jsonValue();

describe('addedKeys / withAdded', () => {
  it('a value plus keys at any depth round-trips; the base is not changed', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), json), fc.dictionary(fc.string().filter((k) => k !== '__proto__'), json), (base, extra) => {
        const next = { ...extra, ...base, nested: { ...(typeof base.nested === 'object' && base.nested && !Array.isArray(base.nested) ? base.nested : {}), added: extra } };
        const b = { ...base, nested: next.nested === undefined ? undefined : { ...(next.nested as object) } };
        delete (b.nested as Record<string, unknown>).added;
        const frozen = structuredClone(b);
        const added = addedKeys(b, next);
        if (added) {
          expect(withAdded(b, added)).toEqual(next);
          expect(b).toEqual(frozen);
        }
      }),
    );
  });

  it('anything but added keys is refused', () => {
    expect(addedKeys({ a: 1 }, { a: 2 })).toBeUndefined();
    expect(addedKeys({ a: 1, b: 2 }, { a: 1 })).toBeUndefined();
    expect(addedKeys([1], [1, 2])).toBeUndefined();
    expect(addedKeys({ a: { b: 1 } }, { a: { b: 1, c: 2 } })).toEqual([[['a', 'c'], 2]]);
    expect(addedKeys({ kwargs: { content: 'x' } }, JSON.parse('{"kwargs":{"content":"x","__proto__":{"polluted":1}}}'))).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
