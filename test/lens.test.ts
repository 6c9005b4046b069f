import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { prepare } from '../src/core/codec.js';
import { StateNotFoundError } from '../src/core/errors.js';
import { isSubscribable, isVersioned } from '../src/agents/data-agent.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { lens, pathLens, propLens, type Lens } from '../src/compose/lens.js';
import { arbitraryExtendedState, dataAgentContract } from '../src/testing/index.js';

type Whole = { focus: unknown; other: string };

dataAgentContract('lens.prop over VolatileAgent', () => ({
  open: () => lens.prop(new VolatileAgent<Whole>(), 'focus', { empty: { focus: null, other: 'kept' } }),
}), { requires: ['update', 'versioned', 'subscribe', 'close'] });

/** The three lens laws for one lens over arbitrary wholes and parts. */
function checkLaws<S, A>(l: Lens<S, A>, wholes: fc.Arbitrary<S>, parts: fc.Arbitrary<A>): void {
  fc.assert(
    fc.property(wholes, parts, parts, (raw, a, b) => {
      const s = prepare(raw).value; // wholes are frozen, as every loaded state
      expect(l.set(s, l.get(s))).toStrictEqual(s); // GetPut
      expect(l.get(l.set(s, a))).toStrictEqual(a); // PutGet
      expect(l.set(l.set(s, a), b)).toStrictEqual(l.set(s, b)); // PutPut
    }),
    { numRuns: 300 },
  );
}

const part = arbitraryExtendedState();
const extra = fc.dictionary(fc.string({ maxLength: 6 }), part, { maxKeys: 4, noNullPrototype: true });

describe('lens laws (GetPut, PutGet, PutPut) on arbitrary states', () => {
  it('propLens obeys the laws, also for the key "__proto__"', () => {
    checkLaws(propLens<Record<string, unknown>, 'k'>('k'), fc.tuple(extra, part).map(([e, v]) => ({ ...e, k: v })), part);
    const proto = (e: Record<string, unknown>, v: unknown): Record<string, unknown> => {
      const o = { ...e };
      Object.defineProperty(o, '__proto__', { value: v, enumerable: true, writable: true, configurable: true });
      return o;
    };
    checkLaws(propLens<Record<string, unknown>, '__proto__'>('__proto__'), fc.tuple(extra, part).map(([e, v]) => proto(e, v)), part);
  });

  it('pathLens obeys the laws through objects and arrays', () => {
    const wholes = fc.tuple(extra, extra, fc.array(part, { maxLength: 3 }), part).map(([e1, e2, before, v]) => ({ ...e1, a: { ...e2, list: [...before, { leaf: v }] }, idx: before.length }));
    fc.assert(
      fc.property(wholes, part, part, (raw, a, b) => {
        const l = pathLens<typeof raw, unknown>('a', 'list', raw.idx, 'leaf');
        const s = prepare(raw).value;
        expect(l.set(s, l.get(s))).toStrictEqual(s);
        expect(l.get(l.set(s, a))).toStrictEqual(a);
        expect(l.set(l.set(s, a), b)).toStrictEqual(l.set(s, b));
      }),
      { numRuns: 300 },
    );
  });

  it('set never mutates the whole and keeps the untouched branches by reference', () => {
    const s = prepare({ a: { x: 1 }, b: { y: [1, 2] } }).value;
    const next = pathLens<typeof s, number>('a', 'x').set(s, 2);
    expect(s).toEqual({ a: { x: 1 }, b: { y: [1, 2] } });
    expect(next).toEqual({ a: { x: 2 }, b: { y: [1, 2] } });
    expect(next.b).toBe(s.b);
  });
});

describe('lens agents', () => {
  it('the lens laws hold through an agent: save/load round-trips a part and leaves the rest', async () => {
    const whole = new VolatileAgent<{ k: unknown; rest: unknown }>();
    const agent = lens.prop(whole, 'k');
    await fc.assert(
      fc.asyncProperty(part, part, part, async (rest, a, b) => {
        await whole.save({ k: null, rest });
        const before = await whole.load();
        await agent.save(await agent.load()); // GetPut
        expect(await whole.load()).toStrictEqual(before);
        await agent.save(a); // PutGet
        expect(await agent.load()).toStrictEqual(a);
        await agent.save(b); // PutPut
        expect(await whole.load()).toStrictEqual({ k: b, rest });
      }),
      { numRuns: 150 },
    );
  });

  it('concurrent updates through two lenses on different parts of one whole are all kept', async () => {
    const whole = new VolatileAgent<{ a: number; b: number }>({ initial: { a: 0, b: 0 } });
    const a = lens.prop(whole, 'a');
    const b = lens.prop(whole, 'b');
    await Promise.all([
      ...Array.from({ length: 25 }, () => a.update((n) => n + 1)),
      ...Array.from({ length: 25 }, () => b.save(7)),
      ...Array.from({ length: 25 }, () => b.update((n) => n + 1)),
    ]);
    const final = await whole.load();
    expect(final.a).toBe(25);
    expect(final.b).toBeGreaterThanOrEqual(7);
  });

  it('a lens save with nothing stored and no `empty` whole throws StateNotFoundError', async () => {
    const agent = lens.prop(new VolatileAgent<{ k: number }>(), 'k');
    await expect(agent.save(1)).rejects.toBeInstanceOf(StateNotFoundError);
    await expect(agent.load()).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('a get/set lens with a computed part loads a frozen part and stores through set', async () => {
    const whole = new VolatileAgent<{ first: string; last: string }>({ initial: { first: 'ada', last: 'lovelace' } });
    const full = lens(
      whole,
      (w) => ({ name: `${w.first} ${w.last}` }),
      (w, p) => {
        const [first = '', last = ''] = p.name.split(' ');
        return { ...w, first, last };
      },
    );
    const loaded = await full.load();
    expect(loaded).toEqual({ name: 'ada lovelace' });
    expect(Object.isFrozen(loaded)).toBe(true);
    await full.update((p) => void (p.name = 'grace hopper'));
    expect(await whole.load()).toEqual({ first: 'grace', last: 'hopper' });
  });

  it('lens.path focuses a nested field; version, loadAt and subscribe follow the whole', async () => {
    const whole = new VolatileAgent<{ profile: { name: string; age: number } }>({ initial: { profile: { name: 'a', age: 1 } } });
    const name = lens.path<{ profile: { name: string; age: number } }, string>(whole, 'profile', 'name');
    expect(isVersioned(name)).toBe(true);
    expect(isSubscribable(name)).toBe(true);
    const seen: string[] = [];
    const off = name.subscribe!((n) => seen.push(n));
    await name.save('b');
    await name.save('c');
    off();
    expect(seen).toEqual(['b', 'c']);
    expect(await name.version!()).toBe(2);
    expect(await name.loadAt!({ version: 1 })).toBe('b');
    expect(await name.history()).toEqual(['c', 'b']);
    expect(await whole.load()).toEqual({ profile: { name: 'c', age: 1 } });
  });
});
