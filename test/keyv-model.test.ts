/**
 * Model test: random sequences of Keyv operations (set, setMany, get, getMany, has, delete,
 * deleteMany, clear, iterator) over two namespaces give the same results through KeyvDgent as
 * through Keyv 6's own in-memory adapter (the reference), on memory and SQLite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import Keyv from 'keyv';
import { KeyvDgent } from '../src/keyv.js';
import { openStore, type OpenedStore } from './keyv-support.js';

const key = fc.constantFrom('a', 'b', 'c', 'd', "q'uote", 'ünï');
const ns = fc.constantFrom(0, 1);
const value = fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 }), fc.dictionary(fc.constantFrom('x', 'y'), fc.boolean()));
const op = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), ns, key, value }),
  fc.record({ kind: fc.constant('setMany' as const), ns, entries: fc.array(fc.record({ key, value }), { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('get' as const), ns, key }),
  fc.record({ kind: fc.constant('getMany' as const), ns, keys: fc.array(key, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('has' as const), ns, key }),
  fc.record({ kind: fc.constant('delete' as const), ns, key }),
  fc.record({ kind: fc.constant('deleteMany' as const), ns, keys: fc.array(key, { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('clear' as const), ns }),
  fc.record({ kind: fc.constant('iterate' as const), ns }),
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

async function run(keyv: Keyv, o: Op): Promise<unknown> {
  switch (o.kind) {
    case 'set': return keyv.set(o.key, o.value);
    case 'setMany': return keyv.setMany(o.entries);
    case 'get': return keyv.get(o.key);
    case 'getMany': return keyv.getMany(o.keys);
    case 'has': return keyv.has(o.key);
    case 'delete': return keyv.delete(o.key);
    case 'deleteMany': return keyv.deleteMany(o.keys);
    case 'clear': return keyv.clear();
    case 'iterate': {
      const out: [string, unknown][] = [];
      for await (const [k, v] of keyv.iterator!()) out.push([k as string, v]);
      return out.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
  }
}

const opened: OpenedStore[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

describe('KeyvDgent against Keyv 6 in-memory adapter (model)', () => {
  for (const backend of ['memory', 'sqlite'] as const) {
    it(`random operation sequences give the same results on ${backend}`, async () => {
      const o = openStore(backend);
      opened.push(o);
      let run_ = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          // fresh namespaces per run: nothing carries over between runs
          const names = [`m${run_}a`, `m${run_}b`];
          run_++;
          const model = new Map();
          const sides = [
            names.map((n) => new Keyv({ store: model, namespace: n })),
            names.map((n) => new Keyv({ store: new KeyvDgent({ store: o.store }), namespace: n })),
          ];
          for (const step of ops) {
            const expected = await run(sides[0]![step.ns]!, step);
            const actual = await run(sides[1]![step.ns]!, step);
            expect({ step, result: actual }).toStrictEqual({ step, result: expected });
          }
        }),
        { numRuns: backend === 'memory' ? 100 : 40 },
      );
    }, 240_000);
  }
});
