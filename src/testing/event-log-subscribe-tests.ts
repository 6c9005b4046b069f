/** EventLog contract: subscriptions (catch-up, live handover, filters, errors). */
import { it, expect } from 'vitest';
import type { RecordedEvent } from '../streams/event-log.js';
import { InvalidKeyError, ValidationError } from '../core/errors.js';
import type { ContractContext } from './event-log-contract.js';
import { appendConcurrently, collect, events, waitFor } from './event-log-support.js';

export function subscribeTests(ctx: ContractContext): void {
  const timeout = ctx.options.deliveryTimeoutMs;

  it(`subscribe catches up then goes live without gap or duplicate while ${ctx.options.concurrentAppenders} appenders write`, async () => {
    const log = await ctx.log();
    await log.append('before', events(20));
    const seen: RecordedEvent[] = [];
    const sub = log.subscribe({}, async (e) => {
      seen.push(e);
      if (seen.length % 7 === 0) await new Promise((r) => setTimeout(r, 1)); // a slow handler widens the handover window
    });
    const appended = await appendConcurrently(log, ctx.options.concurrentAppenders, 12);
    await log.append('after', events(3));
    const expected = 20 + appended + 3;
    await waitFor(() => seen.length >= expected, timeout, `${expected} events`);
    await new Promise((r) => setTimeout(r, 20)); // room for a duplicate to show up
    await sub.close();
    await sub.done;
    const all = await collect(log.readAll());
    expect(all).toHaveLength(expected);
    expect(seen.map((e) => e.id)).toEqual(all.map((e) => e.id));
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.position).toBeGreaterThan(seen[i - 1]!.position);
  });

  it('an event appended from inside the handler, with no append after it, is delivered (no lost wake-up)', async () => {
    const log = await ctx.log();
    const seen: number[] = [];
    const sub = log.subscribe({ stream: 's' }, async (e) => {
      seen.push(e.revision);
      if (e.revision < 4) await log.append('s', events(1, 'Tick', e.revision + 1));
    });
    await log.append('s', events(1));
    await waitFor(() => seen.length >= 4, timeout, 'the 4th event appended by the handler');
    await sub.close();
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('subscribe from the current end delivers only events appended later', async () => {
    const log = await ctx.log();
    const r = await log.append('s', events(3));
    const seen: number[] = [];
    const sub = log.subscribe({ fromPosition: r.position }, (e) => void seen.push(e.revision));
    await new Promise((res) => setTimeout(res, 20));
    expect(seen).toEqual([]);
    await log.append('s', events(1));
    await waitFor(() => seen.length >= 1, timeout, 'the live event');
    await sub.close();
    expect(seen).toEqual([4]);
  });

  it('subscribe from a position delivers only the events after it', async () => {
    const log = await ctx.log();
    await log.append('s', events(5));
    const all = await collect(log.readAll());
    const seen: number[] = [];
    const sub = log.subscribe({ fromPosition: all[2]!.position }, (e) => void seen.push(e.revision));
    await log.append('s', events(2, 'Tick', 6));
    await waitFor(() => seen.length >= 4, timeout, '4 events');
    await sub.close();
    expect(seen).toEqual([4, 5, 6, 7]);
  });

  it('subscribe with a stream filter delivers only that stream, catch-up and live', async () => {
    const log = await ctx.log();
    await log.append('a', events(2));
    await log.append('b', events(3));
    const seen: RecordedEvent[] = [];
    const sub = log.subscribe({ stream: 'a' }, (e) => void seen.push(e));
    await Promise.all([log.append('b', events(2)), log.append('a', events(2, 'Tick', 3)), log.append('c', events(1))]);
    await log.append('a', events(1, 'Tick', 5));
    await waitFor(() => seen.length >= 5, timeout, '5 events of stream a');
    await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    expect(seen.map((e) => [e.stream, e.revision])).toEqual([1, 2, 3, 4, 5].map((r) => ['a', r]));
  });

  it('a subscription handler that throws stops the subscription and rejects done with that error', async () => {
    const log = await ctx.log();
    await log.append('s', events(5));
    const boom = new Error('handler failed');
    const seen: number[] = [];
    const sub = log.subscribe({}, (e) => {
      seen.push(e.revision);
      if (e.revision === 3) throw boom;
    });
    await expect(sub.done).rejects.toBe(boom);
    await log.append('s', events(2));
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([1, 2, 3]);
    await sub.close();
  });

  it('an async handler rejection rejects done too', async () => {
    const log = await ctx.log();
    const sub = log.subscribe({}, async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new TypeError('async failure');
    });
    await log.append('s', events(1));
    await expect(sub.done).rejects.toBeInstanceOf(TypeError);
  });

  it('subscription close stops delivery, resolves done, and works from inside the handler', async () => {
    const log = await ctx.log();
    const seen: number[] = [];
    const sub = log.subscribe({}, async (e) => {
      seen.push(e.revision);
      if (e.revision === 2) await sub.close();
    });
    await log.append('s', events(4));
    await sub.done;
    await log.append('s', events(1));
    await new Promise((r) => setTimeout(r, 30));
    expect(seen).toEqual([1, 2]);
    const other = log.subscribe({}, () => undefined);
    await other.close();
    await expect(other.done).resolves.toBeUndefined();
  });

  it('subscribe with a negative fromPosition throws ValidationError, with an empty stream InvalidKeyError', async () => {
    const log = await ctx.log();
    expect(() => log.subscribe({ fromPosition: -1 }, () => undefined)).toThrow(ValidationError);
    expect(() => log.subscribe({ stream: '' }, () => undefined)).toThrow(InvalidKeyError);
  });

  it('closing the log closes its subscriptions', async () => {
    const log = await ctx.log();
    const sub = log.subscribe({}, () => undefined);
    await log.append('s', events(1));
    await log.close();
    await expect(sub.done).resolves.toBeUndefined();
  });
}
