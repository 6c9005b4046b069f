import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { encode } from '../src/core/codec.js';
import { SerializationError, StateTooLargeError, ValidationError } from '../src/core/errors.js';
import { isVersioned } from '../src/agents/data-agent.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { EntropyConstrainedAgent, type SizeReport } from '../src/compose/entropy-constrained-agent.js';
import { arbitraryExtendedState, dataAgentContract } from '../src/testing/index.js';

dataAgentContract('EntropyConstrainedAgent (budget 1 over VolatileAgent)', () => ({
  open: () => new EntropyConstrainedAgent({ backend: new VolatileAgent(), budget: 1 }),
}), { requires: ['update', 'versioned', 'subscribe', 'close'] });

dataAgentContract(
  'EntropyConstrainedAgent (budget 0.5 of 4096 bytes over VolatileAgent)',
  () => ({ open: () => new EntropyConstrainedAgent({ backend: new VolatileAgent(), budget: 0.5, maxSizeBytes: 4096 }) }),
  { requires: ['update', 'versioned', 'subscribe', 'close'], maxStateBytes: 2048, runs: 50 },
);

const bytes = (v: unknown): number => Buffer.byteLength(encode(v), 'utf8');

describe('EntropyConstrainedAgent', () => {
  it('a budget outside (0, 1] or a bad maxSizeBytes throws ValidationError', () => {
    const backend = new VolatileAgent();
    for (const budget of [0, -0.5, 1.0001, 2, NaN, Infinity]) {
      expect(() => new EntropyConstrainedAgent({ backend, budget })).toThrow(ValidationError);
    }
    expect(() => new EntropyConstrainedAgent({ backend, budget: '0.5' as unknown as number })).toThrow(ValidationError);
    expect(() => new EntropyConstrainedAgent({ backend, budget: 1, maxSizeBytes: 0 })).toThrow(ValidationError);
    expect(() => new EntropyConstrainedAgent({ backend, budget: 1, maxSizeBytes: 1.5 })).toThrow(ValidationError);
    expect(new EntropyConstrainedAgent({ backend, budget: 1 }).limit).toBe(1024 * 1024);
    expect(new EntropyConstrainedAgent({ backend, budget: 0.25, maxSizeBytes: 1000 }).limit).toBe(250);
  });

  it('save over the limit throws StateTooLargeError with size and limit, and the previous state still loads', async () => {
    const agent = new EntropyConstrainedAgent<{ text: string }>({ backend: new VolatileAgent(), budget: 0.5, maxSizeBytes: 200 });
    await agent.save({ text: 'small' });
    const big = { text: 'x'.repeat(200) };
    const err = await agent.save(big).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateTooLargeError);
    expect(err).toMatchObject({ size: bytes(big), limit: 100 });
    expect(await agent.load()).toEqual({ text: 'small' });
    expect(await agent.history()).toEqual([{ text: 'small' }]);
  });

  it('the size is the encoded UTF-8 byte count: multi-byte characters and extended types count as stored', async () => {
    const agent = new EntropyConstrainedAgent<unknown>({ backend: new VolatileAgent(), budget: 1, maxSizeBytes: 12 });
    // "ééééé" is 5 characters, 10 UTF-8 bytes, 12 with the quotes
    await agent.save('ééééé');
    await expect(agent.save('éééééé')).rejects.toMatchObject({ size: 14, limit: 12 });
    expect(await agent.load()).toBe('ééééé');
    // a Map is measured by its encoding, not as the "{}" that JSON.stringify would give
    expect(agent.sizeOf(new Map([['k', 'v']]))).toBe(bytes(new Map([['k', 'v']])));
    expect(agent.sizeOf(new Map([['k', 'v']]))).toBeGreaterThan(2);
  });

  it('save succeeds exactly when the encoded state fits the limit (property)', async () => {
    await fc.assert(
      fc.asyncProperty(arbitraryExtendedState(), fc.integer({ min: 1, max: 400 }), async (state, max) => {
        const agent = new EntropyConstrainedAgent<unknown>({ backend: new VolatileAgent({ initial: 'before' }), budget: 1, maxSizeBytes: max });
        const size = bytes(state);
        const r = await agent.save(state).then(
          () => 'saved',
          (e: unknown) => e,
        );
        if (size <= max) {
          expect(r).toBe('saved');
          expect(await agent.load()).toStrictEqual(state);
        } else {
          expect(r).toBeInstanceOf(StateTooLargeError);
          expect(r).toMatchObject({ size, limit: max });
          expect(await agent.load()).toBe('before');
        }
      }),
      { numRuns: 300 },
    );
  });

  it("onExceed: 'warn' saves the oversized state and reports size, limit and budget", async () => {
    const reports: SizeReport[] = [];
    const agent = new EntropyConstrainedAgent<string>({ backend: new VolatileAgent(), budget: 0.5, maxSizeBytes: 20, onExceed: 'warn', onWarn: (r) => reports.push(r) });
    await agent.save('short');
    expect(reports).toEqual([]);
    await agent.save('a'.repeat(30));
    expect(await agent.load()).toBe('a'.repeat(30));
    expect(reports).toEqual([{ size: 32, limit: 10, budget: 0.5 }]);
  });

  it('update producing an oversized state throws StateTooLargeError and stores nothing', async () => {
    const agent = new EntropyConstrainedAgent<{ items: number[] }>({ backend: new VolatileAgent(), budget: 1, maxSizeBytes: 40 });
    await agent.save({ items: [] });
    await agent.update((d) => void d.items.push(1, 2, 3));
    await expect(agent.update((d) => void d.items.push(...Array.from({ length: 20 }, (_, i) => i)))).rejects.toBeInstanceOf(StateTooLargeError);
    expect(await agent.load()).toEqual({ items: [1, 2, 3] });
    expect(isVersioned(agent)).toBe(true);
    expect(await agent.version!()).toBe(2);
  });

  it('saving a function throws SerializationError, not a size error', async () => {
    const agent = new EntropyConstrainedAgent<unknown>({ backend: new VolatileAgent(), budget: 1 });
    await expect(agent.save({ f: () => 1 })).rejects.toBeInstanceOf(SerializationError);
  });

  it('forDepth gives budget 1 / (depth + 1), always in (0, 1], and rejects a bad depth', () => {
    const backend = new VolatileAgent();
    expect(EntropyConstrainedAgent.forDepth(0, { backend, maxSizeBytes: 1200 }).limit).toBe(1200);
    expect(EntropyConstrainedAgent.forDepth(1, { backend, maxSizeBytes: 1200 }).limit).toBe(600);
    expect(EntropyConstrainedAgent.forDepth(2, { backend, maxSizeBytes: 1200 }).limit).toBe(400);
    fc.assert(
      fc.property(fc.nat({ max: Number.MAX_SAFE_INTEGER - 1 }), (depth) => {
        const a = EntropyConstrainedAgent.forDepth(depth, { backend });
        expect(a.budget).toBeGreaterThan(0);
        expect(a.budget).toBeLessThanOrEqual(1);
      }),
    );
    // strictly shrinking for any realistic nesting (at ~1e15 neighbouring doubles coincide)
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (depth) => {
        expect(EntropyConstrainedAgent.forDepth(depth, { backend }).budget).toBeLessThan(EntropyConstrainedAgent.forDepth(depth - 1, { backend }).budget);
      }),
    );
    for (const depth of [-1, 1.5, NaN]) expect(() => EntropyConstrainedAgent.forDepth(depth, { backend })).toThrow(ValidationError);
  });
});
