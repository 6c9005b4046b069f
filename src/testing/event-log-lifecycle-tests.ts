/** EventLog contract: close, reopen, capabilities (multi-stream append, inline hooks). */
import { it, expect } from 'vitest';
import { ClosedError, ConcurrencyError } from '../core/errors.js';
import { isInlineProjectionHost, isMultiStreamAppender, type RecordedEvent } from '../streams/event-log.js';
import type { ContractContext } from './event-log-contract.js';
import { collect, events, shape } from './event-log-support.js';

export function lifecycleTests(ctx: ContractContext): void {
  it('operations after close throw ClosedError, and close twice resolves', async () => {
    const log = await ctx.log();
    await log.append('s', events(1));
    await log.close();
    await log.close();
    await expect(log.append('s', events(1))).rejects.toBeInstanceOf(ClosedError);
    await expect(collect(log.read('s'))).rejects.toBeInstanceOf(ClosedError);
    await expect(collect(log.readAll())).rejects.toBeInstanceOf(ClosedError);
    await expect(log.revision('s')).rejects.toBeInstanceOf(ClosedError);
    expect(() => log.subscribe({}, () => undefined)).toThrow(ClosedError);
  });

  it('capabilities are declared as booleans and match the methods offered', async () => {
    const log = await ctx.log();
    const c = log.capabilities;
    expect(typeof c.supportsMultiStreamAppend).toBe('boolean');
    expect(typeof c.supportsInlineProjections).toBe('boolean');
    expect(typeof c.durable).toBe('boolean');
    expect(isMultiStreamAppender(log)).toBe(c.supportsMultiStreamAppend);
    expect(isInlineProjectionHost(log)).toBe(c.supportsInlineProjections);
    if (ctx.options.requires?.includes('durable')) expect(c.durable, 'durable is required').toBe(true);
  });

  it('appendMany appends to several streams atomically, or not at all on a conflict', async (t) => {
    const log = await ctx.log();
    if (!ctx.gate(t, log, 'appendMany') || !isMultiStreamAppender(log)) return;
    await log.append('a', events(1));
    const res = await log.appendMany([
      { stream: 'a', events: events(2, 'A', 2), expectedRevision: 1 },
      { stream: 'b', events: events(1, 'B'), expectedRevision: 'no_stream' },
    ]);
    expect(res.map((r) => r.revision)).toEqual([3, 1]);
    expect(res[1]!.position).toBeGreaterThan(res[0]!.position);
    const err = await log
      .appendMany([
        { stream: 'c', events: events(1), expectedRevision: 'no_stream' },
        { stream: 'b', events: events(1), expectedRevision: 'no_stream' },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 'no_stream', actual: 1 });
    expect(await log.revision('c')).toBe(0);
    expect((await collect(log.readAll())).map((e) => `${e.stream}${e.revision}`)).toEqual(['a1', 'a2', 'a3', 'b1']);
  });

  it('onAppend hooks see the events with revisions and positions, and a throwing hook aborts the append', async (t) => {
    const log = await ctx.log();
    if (!ctx.gate(t, log, 'onAppend') || !isInlineProjectionHost(log)) return;
    const seen: RecordedEvent[][] = [];
    const rolledBack: string[] = [];
    const off = log.onAppend((evs, tx) => {
      seen.push([...evs]);
      tx.onRollback(() => rolledBack.push(evs[0]!.type));
    });
    const r = await log.append('s', events(2));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.map((e) => [e.revision, e.stream])).toEqual([[1, 's'], [2, 's']]);
    expect(seen[0]![1]!.position).toBe(r.position);
    const offBad = log.onAppend((evs) => {
      if (evs.some((e) => e.type === 'Forbidden')) throw new RangeError('rejected by hook');
    });
    await expect(log.append('s', events(1, 'Forbidden'))).rejects.toBeInstanceOf(RangeError);
    expect(rolledBack).toEqual(['Forbidden']);
    expect(await log.revision('s')).toBe(2);
    expect(await collect(log.readAll())).toHaveLength(2);
    offBad();
    off();
    const after = await log.append('s', events(1, 'Forbidden'));
    expect(after.revision).toBe(3);
    expect(seen).toHaveLength(2);
  });

  if (ctx.options.reopen) {
    it('a re-opened log holds every event appended before close, and continues revisions and positions', async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      await a.append('s', events(3));
      await a.append('t', [{ id: 'kept-id', type: 'T', data: { when: new Date(7) }, metadata: { who: 'x' } }]);
      const before = await collect(a.readAll());
      await a.close();
      const b = await ctx.open(p);
      const after = await collect(b.readAll());
      expect(after.map((e) => ({ ...shape(e), id: e.id, position: e.position, metadata: e.metadata, time: e.time.getTime() }))).toEqual(
        before.map((e) => ({ ...shape(e), id: e.id, position: e.position, metadata: e.metadata, time: e.time.getTime() })),
      );
      expect(await b.revision('s')).toBe(3);
      const r = await b.append('s', events(1), { expectedRevision: 3 });
      expect(r.revision).toBe(4);
      expect(r.position).toBeGreaterThan(before[before.length - 1]!.position);
      await expect(b.append('t', events(1), { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(ConcurrencyError);
    });

    it('two instances over the same storage: concurrent appends with the same expectedRevision, exactly one wins', async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = await ctx.open(p);
      await a.append('s', events(1));
      for (let round = 0; round < 5; round++) {
        const rev = 1 + round;
        const settled = await Promise.allSettled([a.append('s', events(1, 'A'), { expectedRevision: rev }), b.append('s', events(1, 'B'), { expectedRevision: rev })]);
        expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
        const lost = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')!;
        expect(lost.reason).toBeInstanceOf(ConcurrencyError);
      }
      expect(await a.revision('s')).toBe(6);
      expect(await b.revision('s')).toBe(6);
      const seenByB: number[] = [];
      const sub = b.subscribe({ stream: 's' }, (e) => void seenByB.push(e.revision));
      await a.append('s', events(1));
      const until = Date.now() + ctx.options.deliveryTimeoutMs;
      while (seenByB.length < 7 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      await sub.close();
      expect(seenByB).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });
  }
}
