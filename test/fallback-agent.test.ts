import { describe, it, expect } from 'vitest';
import { BackendUnavailableError, CorruptionError, StateNotFoundError, ValidationError } from '../src/core/errors.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { fallback } from '../src/compose/fallback-agent.js';
import { dataAgentContract } from '../src/testing/index.js';
import { FailingAgent } from './support/failing-agent.js';

dataAgentContract("fallback writes: 'all' over two VolatileAgents", () => ({ open: () => fallback([new VolatileAgent(), new VolatileAgent()]) }), {
  requires: ['update', 'close'],
});

describe('fallback', () => {
  it('load fails over to the next backend on BackendUnavailableError and reports the failover', async () => {
    const primary = new FailingAgent<number>();
    const secondary = new VolatileAgent<number>();
    const skipped: number[] = [];
    const agent = fallback([primary, secondary], { onFailover: (i) => skipped.push(i) });
    await agent.save(1);
    primary.failReads = true;
    expect(await agent.load()).toBe(1);
    expect(await agent.history()).toEqual([1]);
    expect(skipped).toEqual([0, 0]);
  });

  it('errors other than BackendUnavailableError are the answer and do not fail over', async () => {
    const secondary = new VolatileAgent<number>({ initial: 5 });
    await expect(fallback([new VolatileAgent<number>(), secondary]).load()).rejects.toBeInstanceOf(StateNotFoundError);
    const corrupt = { load: () => Promise.reject(new CorruptionError('bad file')), save: async () => {}, history: async () => [] };
    await expect(fallback<number>([corrupt, secondary]).load()).rejects.toBeInstanceOf(CorruptionError);
  });

  it('when every backend is unavailable the first error is thrown', async () => {
    const a = new FailingAgent<number>();
    const b = new FailingAgent<number>();
    a.failReads = b.failReads = true;
    const err = await fallback([a, b]).load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackendUnavailableError);
  });

  it("writes: 'all' writes every backend and rejects while one is down, so a resolved save is on all of them", async () => {
    const a = new FailingAgent<number>();
    const b = new VolatileAgent<number>();
    const agent = fallback([a, b]);
    await agent.save(1);
    expect([await a.load(), await b.load()]).toEqual([1, 1]);
    a.failWrites = true;
    await expect(agent.save(2)).rejects.toBeInstanceOf(BackendUnavailableError);
    a.failWrites = false;
    // the rejected save reached the backends that were up: they diverge until the next save
    expect([await a.load(), await b.load()]).toEqual([1, 2]);
    await agent.save(3);
    expect([await a.load(), await b.load()]).toEqual([3, 3]);
  });

  it("writes: 'first-available' keeps saving while the primary is down", async () => {
    const a = new FailingAgent<number>();
    const b = new VolatileAgent<number>();
    const agent = fallback([a, b], { writes: 'first-available' });
    await agent.save(1);
    expect(await b.load().catch((e: unknown) => e)).toBeInstanceOf(StateNotFoundError);
    a.failWrites = true;
    a.failReads = true;
    await agent.save(2);
    expect(await agent.load()).toBe(2);
    expect(await b.load()).toBe(2);
  });

  it("update runs on the first available backend and, under 'all', reaches the others: 30 concurrent increments end at 30 everywhere", async () => {
    const a = new VolatileAgent<{ n: number }>({ initial: { n: 0 } });
    const b = new VolatileAgent<{ n: number }>();
    const agent = fallback([a, b]);
    await Promise.all(Array.from({ length: 30 }, () => agent.update((d) => void (d.n += 1))));
    expect(await a.load()).toEqual({ n: 30 });
    expect(await b.load()).toEqual({ n: 30 });
  });

  it("status() under 'all' (the default) reports each backend's availability, probed now, and no queue", async () => {
    const a = new FailingAgent<number>();
    const agent = fallback([a, new VolatileAgent<number>()]);
    expect(agent.writes).toBe('all');
    a.failReads = true;
    const st = await agent.status();
    expect(st).toMatchObject({ writes: 'all', healthy: false, queueDepth: 0 });
    expect(st.backends.map((b) => [b.name, b.available, b.queued])).toEqual([
      ['0', false, 0],
      ['1', true, 0],
    ]);
    a.failReads = false;
    expect((await agent.status()).healthy).toBe(true);
  });

  it('fallback with no backends or an unknown write policy throws ValidationError', () => {
    expect(() => fallback([])).toThrow(ValidationError);
    expect(() => fallback([new VolatileAgent()], { writes: 'some' as never })).toThrow(ValidationError);
  });
});
