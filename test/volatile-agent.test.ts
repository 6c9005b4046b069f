import { describe, it, expect } from 'vitest';
import { VolatileAgent, StateNotFoundError } from '../src/index.js';
import { dataAgentContract } from '../src/testing/index.js';

dataAgentContract('VolatileAgent', () => ({ open: () => new VolatileAgent() }), { requires: ['update', 'versioned', 'subscribe', 'close'] });

describe('VolatileAgent', () => {
  it('load returns the stored frozen object itself (no copy)', async () => {
    const a = new VolatileAgent<{ x: number[] }>();
    await a.save({ x: [1] });
    expect(await a.load()).toBe(await a.load());
  });

  it('maxHistory bounds history but always keeps the current state', async () => {
    const a = new VolatileAgent<number>({ maxHistory: 3 });
    for (let i = 1; i <= 10; i++) await a.save(i);
    expect(await a.history()).toEqual([10, 9, 8]);
    expect(await a.load()).toBe(10);
    expect(await a.version()).toBe(10);
    expect(await a.loadAt({ version: 8 })).toBe(8);
    await expect(a.loadAt({ version: 7 })).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('initial is returned before the first save and is the base of update()', async () => {
    const a = new VolatileAgent({ initial: { n: 0 } });
    expect(await a.load()).toEqual({ n: 0 });
    expect(await a.version()).toBe(0);
    expect(await a.update((d) => void (d.n += 2))).toEqual({ n: 2 });
    expect(await a.version()).toBe(1);
  });

  it('update with a recipe that returns a primitive state works', async () => {
    const a = new VolatileAgent<number>({ initial: 1 });
    expect(await a.update((n) => n + 1)).toBe(2);
  });

  it('stored bytes cannot be mutated through a loaded state', async () => {
    const a = new VolatileAgent<{ b: Uint8Array }>();
    await a.save({ b: new Uint8Array([1, 2]) });
    (await a.load()).b[0] = 99;
    expect((await a.load()).b).toEqual(new Uint8Array([1, 2]));
  });

  it('subscribe is told of each save with its version', async () => {
    const a = new VolatileAgent<number>();
    const seen: [number, number][] = [];
    const off = a.subscribe((s, info) => seen.push([s, info.version]));
    await a.save(5);
    await a.update((n) => n * 2);
    off();
    await a.save(1);
    expect(seen).toEqual([[5, 1], [10, 2]]);
  });
});
