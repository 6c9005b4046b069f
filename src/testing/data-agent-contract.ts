/**
 * The DataAgent conformance suite. Run it against any backend (ours or a third party's):
 *
 * @example
 * ```ts
 * import { dataAgentContract } from 'dgent/testing';
 * dataAgentContract('MyAgent', () => {
 *   const place = makeTempPlace();
 *   return { open: () => new MyAgent({ place }), cleanup: () => place.remove() };
 * }, { reopen: true });
 * ```
 */
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import type { DataAgent } from '../agents/data-agent.js';
import { isUpdatable, isVersioned, isClosable } from '../agents/data-agent.js';
import { ConcurrencyError, SerializationError, StateNotFoundError } from '../core/errors.js';

/** One storage location; `open()` returns an agent over it (a new instance each call where the backend allows). */
export interface AgentPlace {
  open(): DataAgent<any> | Promise<DataAgent<any>>;
  cleanup?(): void | Promise<void>;
}

/** Options of {@link dataAgentContract}. */
export interface DataAgentContractOptions {
  /** `open()` twice gives two instances over the same storage, and a closed agent's state survives re-opening (default false). */
  reopen?: boolean;
  /** fast-check runs for the round-trip properties (default 200). */
  runs?: number;
  /** Number of concurrent `update` increments (default 40). */
  concurrentUpdates?: number;
  /** The backend keeps at least this many states of history (default 10). */
  minHistory?: number;
  /** Skip the extended codec types (Date, Map, Set, BigInt, Uint8Array) for backends that store plain JSON only. */
  jsonOnly?: boolean;
}

/** Arbitrary states with the extended codec types. */
export function arbitraryExtendedState(): fc.Arbitrary<unknown> {
  const leaf = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    fc.date({ noInvalidDate: false }),
    fc.bigInt(),
    fc.uint8Array({ maxLength: 32 }),
    fc.constant(undefined),
    fc.constantFrom(NaN, Infinity, -Infinity, -0),
  );
  return fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      fc.array(tie('node'), { maxLength: 4 }),
      fc.dictionary(fc.string({ maxLength: 8 }), tie('node'), { maxKeys: 4, noNullPrototype: true }),
      fc.array(fc.tuple(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), tie('node')), { maxLength: 3 }).map((e) => new Map(e)),
      fc.array(fc.oneof(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 4 }).map((e) => new Set(e)),
    ),
  })).node;
}

function isDeepFrozen(v: unknown, seen = new Set<unknown>()): boolean {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || seen.has(v)) return true;
  seen.add(v);
  if (!Object.isFrozen(v)) return false;
  if (v instanceof Map) return [...v].every(([k, x]) => isDeepFrozen(k, seen) && isDeepFrozen(x, seen));
  if (v instanceof Set) return [...v].every((x) => isDeepFrozen(x, seen));
  return Object.values(v).every((x) => isDeepFrozen(x, seen));
}

/** Register the DataAgent conformance tests for one backend. */
export function dataAgentContract(name: string, factory: () => AgentPlace | Promise<AgentPlace>, options: DataAgentContractOptions = {}): void {
  const runs = options.runs ?? 200;
  const nUpdates = options.concurrentUpdates ?? 40;
  const minHistory = options.minHistory ?? 10;

  describe(`DataAgent contract: ${name}`, () => {
    const places: AgentPlace[] = [];
    const opened: DataAgent<any>[] = [];
    const place = async (): Promise<AgentPlace> => {
      const p = await factory();
      places.push(p);
      return p;
    };
    const open = async (p: AgentPlace): Promise<DataAgent<any>> => {
      const a = await p.open();
      opened.push(a);
      return a;
    };
    afterEach(async () => {
      for (const a of opened.splice(0)) if (isClosable(a)) await a.close().catch(() => undefined);
      for (const p of places.splice(0)) await p.cleanup?.();
    });

    it('load before the first save throws StateNotFoundError', async () => {
      const a = await open(await place());
      await expect(a.load()).rejects.toBeInstanceOf(StateNotFoundError);
    });

    it('save then load round-trips arbitrary JSON values exactly', async () => {
      const a = await open(await place());
      await fc.assert(
        fc.asyncProperty(fc.jsonValue(), async (v) => {
          await a.save(v);
          expect(await a.load()).toStrictEqual(v);
        }),
        { numRuns: runs },
      );
    });

    if (!options.jsonOnly) {
      it('save then load round-trips Date, Map, Set, BigInt, Uint8Array, undefined, NaN and -0 exactly', async () => {
        const a = await open(await place());
        await fc.assert(
          fc.asyncProperty(arbitraryExtendedState(), async (v) => {
            await a.save(v);
            expect(await a.load()).toStrictEqual(v);
          }),
          { numRuns: runs },
        );
      });
    }

    it('loaded state is deeply frozen and independent of the saved object', async () => {
      const a = await open(await place());
      const mine = { list: [1, 2, { deep: 'x' }], when: new Date(1000), tags: new Set(['a']), m: new Map([['k', { v: 1 }]]) };
      await a.save(mine);
      mine.list.push(3);
      (mine.list[2] as { deep: string }).deep = 'changed';
      mine.tags.add('b');
      mine.m.get('k')!.v = 2;
      const loaded = await a.load();
      expect(loaded).toStrictEqual({ list: [1, 2, { deep: 'x' }], when: new Date(1000), tags: new Set(['a']), m: new Map([['k', { v: 1 }]]) });
      expect(isDeepFrozen(loaded)).toBe(true);
      expect(() => {
        'use strict';
        (loaded.list as number[]).push(9);
      }).toThrow();
      expect(() => loaded.tags.add('z')).toThrow();
      expect(await a.load()).toStrictEqual(loaded);
    });

    it('history returns saved states newest first, honouring limit', async () => {
      const a = await open(await place());
      const n = Math.min(minHistory, 10);
      for (let i = 1; i <= n; i++) await a.save({ i });
      const h = await a.history();
      expect(h.length).toBeGreaterThanOrEqual(n);
      expect(h.slice(0, n)).toStrictEqual(Array.from({ length: n }, (_, k) => ({ i: n - k })));
      expect(await a.history(3)).toStrictEqual([{ i: n }, { i: n - 1 }, { i: n - 2 }]);
      expect(await a.history(0)).toStrictEqual([]);
      expect((await a.history(1))[0]).toStrictEqual(await a.load());
    });

    it('saving a function, a symbol or a cycle throws SerializationError with the path and keeps the stored state', async () => {
      const a = await open(await place());
      await a.save({ ok: true });
      await expect(a.save({ tools: [{}, {}, { handler: () => 1 }] })).rejects.toMatchObject({ path: '$.tools[2].handler' });
      await expect(a.save({ s: Symbol('x') })).rejects.toBeInstanceOf(SerializationError);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(a.save(cyclic)).rejects.toBeInstanceOf(SerializationError);
      expect(await a.load()).toStrictEqual({ ok: true });
    });

    it(`${nUpdates} concurrent update increments end at exactly ${nUpdates}`, async (ctx) => {
      const a = await open(await place());
      if (!isUpdatable(a)) return ctx.skip();
      await a.save({ n: 0 });
      await Promise.all(Array.from({ length: nUpdates }, () => a.update((d: { n: number }) => void (d.n += 1))));
      expect(await a.load()).toStrictEqual({ n: nUpdates });
    });

    it('save with a stale expectedVersion throws ConcurrencyError with expected and actual', async (ctx) => {
      const a = await open(await place());
      if (!isVersioned(a)) return ctx.skip();
      expect(await a.version()).toBe(0);
      await a.save({ v: 1 }, { expectedVersion: 0 });
      await a.save({ v: 2 }, { expectedVersion: 1 });
      const err = await a.save({ v: 3 }, { expectedVersion: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ expected: 1, actual: 2 });
      expect(await a.load()).toStrictEqual({ v: 2 });
      expect(await a.version()).toBe(2);
    });

    it('loadAt returns the state of an older version and of a past time', async (ctx) => {
      const a = await open(await place());
      if (!isVersioned(a)) return ctx.skip();
      await a.save({ v: 1 });
      await a.save({ v: 2 });
      await new Promise((r) => setTimeout(r, 5));
      const between = new Date();
      await new Promise((r) => setTimeout(r, 5));
      await a.save({ v: 3 });
      expect(await a.loadAt({ version: 1 })).toStrictEqual({ v: 1 });
      expect(await a.loadAt({ version: 3 })).toStrictEqual({ v: 3 });
      expect(await a.loadAt({ time: between })).toStrictEqual({ v: 2 });
      await expect(a.loadAt({ version: 4 })).rejects.toBeInstanceOf(StateNotFoundError);
      await expect(a.loadAt({ time: new Date(0) })).rejects.toBeInstanceOf(StateNotFoundError);
    });

    if (options.reopen) {
      it('a re-opened agent sees the last save after close', async () => {
        const p = await place();
        const a = await open(p);
        await a.save({ turn: 1 });
        await a.save({ turn: 2, when: new Date(7) });
        if (isClosable(a)) await a.close();
        const b = await open(p);
        expect(await b.load()).toStrictEqual({ turn: 2, when: new Date(7) });
        expect(await b.history(2)).toStrictEqual([{ turn: 2, when: new Date(7) }, { turn: 1 }]);
      });

      it('concurrent updates from two instances over the same storage end at the exact total', async (ctx) => {
        const p = await place();
        const a = await open(p);
        const b = await open(p);
        if (!isUpdatable(a) || !isUpdatable(b)) return ctx.skip();
        await a.save({ n: 0 });
        const half = Math.max(1, Math.floor(nUpdates / 2));
        await Promise.all([
          ...Array.from({ length: half }, () => a.update((d: { n: number }) => void (d.n += 1))),
          ...Array.from({ length: half }, () => b.update((d: { n: number }) => void (d.n += 1))),
        ]);
        expect(await a.load()).toStrictEqual({ n: 2 * half });
        expect(await b.load()).toStrictEqual({ n: 2 * half });
      });
    }
  });
}
