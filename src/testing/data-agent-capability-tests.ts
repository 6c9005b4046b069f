/** DataAgent contract: the optional capabilities (update, versioned, subscribe, close) and re-opening. */
import { it, expect } from 'vitest';
import type { ChangeInfo } from '../agents/data-agent.js';
import { isClosable, isSubscribable, isUpdatable, isVersioned } from '../agents/data-agent.js';
import { ClosedError, ConcurrencyError, SerializationError, StateNotFoundError, ValidationError } from '../core/errors.js';
import { isDeepFrozen } from './values.js';
import { rejectsWith, until, type AgentContractContext } from './data-agent-support.js';

export function capabilityTests(ctx: AgentContractContext): void {
  const nUpdates = ctx.options.concurrentUpdates;

  it(`${nUpdates} concurrent update increments end at exactly ${nUpdates}`, async (t) => {
    const a = await ctx.agent();
    if (!ctx.gate(t, a, 'update') || !isUpdatable(a)) return;
    await a.save({ n: 0 });
    await Promise.all(Array.from({ length: nUpdates }, () => a.update((d: { n: number }) => void (d.n += 1))));
    expect(await a.load()).toStrictEqual({ n: nUpdates });
  });

  it('save with a stale expectedVersion throws ConcurrencyError (code CONCURRENCY) with expected and actual', async (t) => {
    const a = await ctx.agent();
    if (!ctx.gate(t, a, 'versioned') || !isVersioned(a)) return;
    expect(await a.version()).toBe(0);
    await a.save({ v: 1 }, { expectedVersion: 0 });
    await a.save({ v: 2 }, { expectedVersion: 1 });
    const err = await rejectsWith(a.save({ v: 3 }, { expectedVersion: 1 }), ConcurrencyError, 'CONCURRENCY');
    expect(err).toMatchObject({ expected: 1, actual: 2 });
    expect(await a.load()).toStrictEqual({ v: 2 });
    expect(await a.version()).toBe(2);
    await rejectsWith(a.save({ v: 3 }, { expectedVersion: -1 }), ValidationError, 'VALIDATION');
    expect(await a.version()).toBe(2);
  });

  it('loadAt returns the state of an older version and of a past time; what is not there is StateNotFoundError', async (t) => {
    const a = await ctx.agent();
    if (!ctx.gate(t, a, 'versioned') || !isVersioned(a)) return;
    await a.save({ v: 1 });
    await a.save({ v: 2 });
    await new Promise((r) => setTimeout(r, 5));
    const between = new Date();
    await new Promise((r) => setTimeout(r, 5));
    await a.save({ v: 3 });
    expect(await a.loadAt({ version: 1 })).toStrictEqual({ v: 1 });
    expect(await a.loadAt({ version: 3 })).toStrictEqual({ v: 3 });
    expect(await a.loadAt({ time: between })).toStrictEqual({ v: 2 });
    await rejectsWith(a.loadAt({ version: 4 }), StateNotFoundError, 'STATE_NOT_FOUND');
    await rejectsWith(a.loadAt({ time: new Date(0) }), StateNotFoundError, 'STATE_NOT_FOUND');
    await rejectsWith(a.loadAt({ version: 0 }), ValidationError, 'VALIDATION');
  });

  it('subscribe: every save and update is told once, in order, with its frozen state and version; unsubscribe stops it; a failed save is not told', async (t) => {
    const a = await ctx.agent();
    if (!ctx.gate(t, a, 'subscribe') || !isSubscribable(a)) return;
    const seen: [unknown, ChangeInfo][] = [];
    const off = a.subscribe((s, info) => void seen.push([s, info]));
    await a.save({ n: 1 });
    await a.save({ n: 2, when: new Date(5) });
    if (isUpdatable(a)) await a.update(() => ({ n: 3 }));
    else await a.save({ n: 3 });
    const timeout = ctx.options.faultTimeoutMs;
    await until(() => seen.length >= 3, timeout, '3 change notifications');
    expect(seen.map(([s]) => s)).toStrictEqual([{ n: 1 }, { n: 2, when: new Date(5) }, { n: 3 }]);
    for (const [s, info] of seen) {
      expect(isDeepFrozen(s)).toBe(true);
      expect(info.time).toBeInstanceOf(Date);
      expect(Number.isInteger(info.version)).toBe(true);
    }
    const versions = seen.map(([, info]) => info.version);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1]!);
    if (isVersioned(a)) {
      expect(versions).toEqual([1, 2, 3]);
      expect(await a.version()).toBe(3);
    }
    off();
    // notifications of one agent arrive in order: once the later listener has seen a save, the removed one would have too
    const later: unknown[] = [];
    const offLater = a.subscribe((s) => void later.push(s));
    await rejectsWith(a.save({ bad: () => 1 }), SerializationError, 'SERIALIZATION');
    if (isVersioned(a)) await rejectsWith(a.save({ n: 0 }, { expectedVersion: 1 }), ConcurrencyError, 'CONCURRENCY');
    await a.save({ n: 4 });
    await until(() => later.length >= 1, timeout, 'the notification of the save after unsubscribe');
    offLater();
    expect(later).toStrictEqual([{ n: 4 }]);
    expect(seen).toHaveLength(3);
  });

  it('close twice resolves, and every operation after close throws ClosedError (code CLOSED)', async (t) => {
    const a = await ctx.agent();
    if (!ctx.gate(t, a, 'close') || !isClosable(a)) return;
    await a.save({ n: 1 });
    await a.close();
    await a.close();
    await rejectsWith(a.load(), ClosedError, 'CLOSED');
    await rejectsWith(a.save({ n: 2 }), ClosedError, 'CLOSED');
    await rejectsWith(a.history(), ClosedError, 'CLOSED');
    if (isUpdatable(a)) await rejectsWith(a.update(() => ({ n: 3 })), ClosedError, 'CLOSED');
    if (isVersioned(a)) {
      await rejectsWith(a.version(), ClosedError, 'CLOSED');
      await rejectsWith(a.loadAt({ version: 1 }), ClosedError, 'CLOSED');
    }
  });

  if (ctx.options.reopen) {
    it('a re-opened agent sees the last save after close', async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      await a.save({ turn: 1 });
      await a.save({ turn: 2, when: new Date(7) });
      if (isClosable(a)) await a.close();
      const b = await ctx.open(p);
      expect(await b.load()).toStrictEqual({ turn: 2, when: new Date(7) });
      expect(await b.history(2)).toStrictEqual([{ turn: 2, when: new Date(7) }, { turn: 1 }]);
    });

    it('concurrent updates from two instances over the same storage end at the exact total', async (t) => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = await ctx.open(p);
      if (!ctx.gate(t, a, 'update') || !isUpdatable(a) || !isUpdatable(b)) return;
      await a.save({ n: 0 });
      const half = Math.max(1, Math.floor(nUpdates / 2));
      await Promise.all([
        ...Array.from({ length: half }, () => a.update((d: { n: number }) => void (d.n += 1))),
        ...Array.from({ length: half }, () => b.update((d: { n: number }) => void (d.n += 1))),
      ]);
      expect(await a.load()).toStrictEqual({ n: 2 * half });
      expect(await b.load()).toStrictEqual({ n: 2 * half });
    });

    it('a stale expectedVersion from a second instance throws ConcurrencyError and changes nothing', async (t) => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = await ctx.open(p);
      if (!ctx.gate(t, a, 'versioned') || !isVersioned(a) || !isVersioned(b)) return;
      await a.save({ v: 1 }, { expectedVersion: 0 });
      const seen = await b.version();
      expect(seen).toBe(1);
      await a.save({ v: 2 }, { expectedVersion: 1 });
      const err = await rejectsWith(b.save({ v: 'b' }, { expectedVersion: seen }), ConcurrencyError, 'CONCURRENCY');
      expect(err).toMatchObject({ expected: 1, actual: 2 });
      expect(await b.load()).toStrictEqual({ v: 2 });
    });
  }
}
