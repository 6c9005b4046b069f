/**
 * The DataAgent conformance suite. Run it against any backend (ours or a third party's):
 *
 * @example
 * ```ts
 * import { dataAgentContract } from 'dgent/testing';
 * dataAgentContract('MyAgent', () => {
 *   const place = makeTempPlace();
 *   return { open: () => new MyAgent({ place }), cleanup: () => place.remove() };
 * }, { reopen: true, requires: ['update', 'versioned', 'subscribe', 'close'] });
 * ```
 *
 * Tests of an optional capability run when the agent offers it; list the capabilities your agent
 * has in `requires`, so that losing one fails the suite instead of skipping tests. Tests of faults
 * (corruption, an unreachable backend, schemas) run when the place provides the hooks they need.
 */
import { describe, it, expect, afterEach } from 'vitest';
import fc from 'fast-check';
import type { DataAgent } from '../agents/data-agent.js';
import { isClosable } from '../agents/data-agent.js';
import { SerializationError, StateNotFoundError, StateTooLargeError, ValidationError } from '../core/errors.js';
import { encodedSize } from '../core/codec.js';
import { arbitraryExtendedState, isDeepFrozen, specialState } from './values.js';
import { offers, rejectsWith, type AgentContractContext, type AgentPlace, type DataAgentContractOptions } from './data-agent-support.js';
import { capabilityTests } from './data-agent-capability-tests.js';
import { faultTests } from './data-agent-fault-tests.js';

export { arbitraryExtendedState } from './values.js';
export type { AgentCapability, AgentPlace, AgentTyping, DataAgentContractOptions } from './data-agent-support.js';

/** Register the DataAgent conformance tests for one backend. */
export function dataAgentContract(name: string, factory: () => AgentPlace | Promise<AgentPlace>, options: DataAgentContractOptions = {}): void {
  /**
   * One step of the round-trip properties: save `v`, load it back exactly. With `maxStateBytes`, a
   * generated value whose encoded form is over the limit must be refused with StateTooLargeError
   * instead, and the state saved before it must still load.
   */
  const saveThenLoad = (a: DataAgent<any>): ((v: unknown) => Promise<void>) => {
    let saved: { value: unknown } | undefined;
    return async (v) => {
      if (options.maxStateBytes !== undefined && encodedSize(v) > options.maxStateBytes) {
        await rejectsWith(a.save(v), StateTooLargeError, 'STATE_TOO_LARGE');
        if (saved) expect(await a.load()).toStrictEqual(saved.value);
        return;
      }
      await a.save(v);
      expect(await a.load()).toStrictEqual(v);
      saved = { value: v };
    };
  };
  describe(`DataAgent contract: ${name}`, () => {
    const places: AgentPlace[] = [];
    const opened: DataAgent<any>[] = [];
    const required = new Set(options.requires ?? []);
    const ctx: AgentContractContext = {
      options: {
        ...options,
        runs: options.runs ?? 200,
        concurrentUpdates: options.concurrentUpdates ?? 40,
        minHistory: options.minHistory ?? 10,
        faultTimeoutMs: options.faultTimeoutMs ?? 30_000,
      },
      async place() {
        const p = await factory();
        places.push(p);
        return p;
      },
      async open(p) {
        return ctx.track(await p.open());
      },
      track(a) {
        opened.push(a);
        return a;
      },
      async agent() {
        return ctx.open(await ctx.place());
      },
      gate(t, agent, cap) {
        if (offers(agent, cap)) return true;
        if (required.has(cap)) throw new Error(`${name} is required to offer '${cap}' (options.requires) but the agent does not`);
        t.skip(`the agent does not offer '${cap}'`);
        return false;
      },
    };
    afterEach(async () => {
      for (const a of opened.splice(0)) if (isClosable(a)) await a.close().catch(() => undefined);
      for (const p of places.splice(0)) await p.cleanup?.();
    });

    if (required.size > 0) {
      it(`offers every required capability: ${[...required].join(', ')}`, async () => {
        const a = await ctx.agent();
        expect([...required].filter((cap) => !offers(a, cap)), 'required capabilities the agent does not offer').toEqual([]);
      });
    }

    it('load before the first save throws StateNotFoundError (code STATE_NOT_FOUND)', async () => {
      const a = await ctx.agent();
      await rejectsWith(a.load(), StateNotFoundError, 'STATE_NOT_FOUND');
    });

    it('save then load round-trips arbitrary JSON values exactly', async () => {
      const a = await ctx.agent();
      const roundTrip = saveThenLoad(a);
      await fc.assert(fc.asyncProperty(fc.jsonValue(), roundTrip), { numRuns: ctx.options.runs });
    });

    if (!options.jsonOnly) {
      it('save then load round-trips Date, Map, Set, BigInt, Uint8Array, undefined, NaN and -0 exactly', async () => {
        const a = await ctx.agent();
        const roundTrip = saveThenLoad(a);
        await fc.assert(fc.asyncProperty(arbitraryExtendedState(), roundTrip), { numRuns: ctx.options.runs });
      });

      it('Map keys that are objects, Sets of objects, NaN and -0 round-trip exactly, in load and history', async () => {
        const p = await ctx.place();
        const a = await ctx.open(p);
        await a.save(specialState());
        await a.save({ after: specialState() });
        const loaded = await a.load();
        expect(loaded).toStrictEqual({ after: specialState() });
        expect(Object.is((loaded as { after: { negZero: number } }).after.negZero, -0)).toBe(true);
        expect(isDeepFrozen(loaded)).toBe(true);
        expect(await a.history(2)).toStrictEqual([{ after: specialState() }, specialState()]);
        if (options.reopen) {
          if (isClosable(a)) await a.close();
          const b = await ctx.open(p);
          expect(await b.load()).toStrictEqual({ after: specialState() });
        }
      });
    }

    it('loaded state is deeply frozen and independent of the saved object', async () => {
      const a = await ctx.agent();
      const key = { id: 1 };
      const mine = { list: [1, 2, { deep: 'x' }], when: new Date(1000), tags: new Set(['a']), m: new Map([['k', { v: 1 }]]), byObj: new Map([[key, 1]]) };
      await a.save(mine);
      mine.list.push(3);
      (mine.list[2] as { deep: string }).deep = 'changed';
      mine.tags.add('b');
      mine.m.get('k')!.v = 2;
      key.id = 2;
      const loaded = await a.load();
      expect(loaded).toStrictEqual({ list: [1, 2, { deep: 'x' }], when: new Date(1000), tags: new Set(['a']), m: new Map([['k', { v: 1 }]]), byObj: new Map([[{ id: 1 }, 1]]) });
      expect(isDeepFrozen(loaded)).toBe(true);
      expect(() => {
        'use strict';
        (loaded.list as number[]).push(9);
      }).toThrow();
      expect(() => loaded.tags.add('z')).toThrow();
      expect(await a.load()).toStrictEqual(loaded);
    });

    it('history returns saved states newest first, honouring limit; a bad limit is ValidationError', async () => {
      const a = await ctx.agent();
      const n = Math.min(ctx.options.minHistory, 10);
      for (let i = 1; i <= n; i++) await a.save({ i });
      const h = await a.history();
      expect(h.length).toBeGreaterThanOrEqual(n);
      expect(h.slice(0, n)).toStrictEqual(Array.from({ length: n }, (_, k) => ({ i: n - k })));
      expect(await a.history(3)).toStrictEqual([{ i: n }, { i: n - 1 }, { i: n - 2 }]);
      expect(await a.history(0)).toStrictEqual([]);
      expect((await a.history(1))[0]).toStrictEqual(await a.load());
      await rejectsWith(a.history(-1), ValidationError, 'VALIDATION');
      await rejectsWith(a.history(1.5), ValidationError, 'VALIDATION');
    });

    it('saving a function, a symbol or a cycle throws SerializationError (code SERIALIZATION) with the path and keeps the stored state', async () => {
      const a = await ctx.agent();
      await a.save({ ok: true });
      const err = await rejectsWith(a.save({ tools: [{}, {}, { handler: () => 1 }] }), SerializationError, 'SERIALIZATION');
      expect(err.path).toBe('$.tools[2].handler');
      await rejectsWith(a.save({ s: Symbol('x') }), SerializationError, 'SERIALIZATION');
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await rejectsWith(a.save(cyclic), SerializationError, 'SERIALIZATION');
      await rejectsWith(a.save(new Map([[{ f: () => 1 }, 1]])), SerializationError, 'SERIALIZATION');
      expect(await a.load()).toStrictEqual({ ok: true });
    });

    capabilityTests(ctx);
    faultTests(ctx);
  });
}
