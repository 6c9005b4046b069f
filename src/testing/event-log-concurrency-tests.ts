/**
 * EventLog contract: close() with operations in flight, idempotent retries through another
 * instance, and appends racing with the same event ids.
 */
import { randomUUID } from 'node:crypto';
import { it, expect } from 'vitest';
import { ClosedError, ValidationError } from '../core/errors.js';
import type { AppendResult, EventLog, NewEvent, RecordedEvent } from '../streams/event-log.js';
import type { ContractContext } from './event-log-contract.js';
import { collect, events, within } from './event-log-support.js';

/** Fulfilled, or rejected with ClosedError: anything else fails the test. */
function expectDoneOrClosed(outcome: PromiseSettledResult<unknown>, what: string): void {
  if (outcome.status === 'rejected') expect(outcome.reason, `${what} rejected with something other than ClosedError`).toBeInstanceOf(ClosedError);
}

/** Pull the rest of a reader: returns what it yielded, and whether it ended with ClosedError. */
async function drain(it: AsyncIterator<RecordedEvent>): Promise<{ got: RecordedEvent[]; closed: boolean }> {
  const got: RecordedEvent[] = [];
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return { got, closed: false };
      got.push(r.value);
    }
  } catch (e) {
    expect(e, 'a reader interrupted by close() rejected with something other than ClosedError').toBeInstanceOf(ClosedError);
    return { got, closed: true };
  }
}

const idBatch = (tag: string, n: number): NewEvent[] => Array.from({ length: n }, (_, i) => ({ id: `${tag}-${randomUUID()}-${i}`, type: 'T', data: { i } }));

export function concurrencyTests(ctx: ContractContext): void {
  const bound = ctx.options.deliveryTimeoutMs;

  it('close() with appends, reads, a paused reader and a running handler in flight: each completes or fails with ClosedError, nothing hangs, nothing is half-written', async () => {
    const p = await ctx.place();
    const log = await ctx.open(p);
    await log.append('pre', events(30));

    let started!: () => void;
    const handlerStarted = new Promise<void>((r) => (started = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const delivered: number[] = [];
    const sub = log.subscribe({ stream: 'pre' }, async (e) => {
      delivered.push(e.revision);
      if (e.revision === 1) {
        started();
        await released;
      }
    });
    await within(handlerStarted, bound, 'the subscription handler to start');
    const reader = log.readAll()[Symbol.asyncIterator]();
    const first = await reader.next();
    expect(first.done).toBe(false);

    const batches = Array.from({ length: 8 }, (_, b) => ({
      stream: b % 2 === 1 ? 'shared' : `own-${b}`,
      events: Array.from({ length: 3 }, (_, k) => ({ type: 'InFlight', data: { b, k } })),
    }));
    const appends = batches.map((b) => log.append(b.stream, b.events));
    const reads = [collect(log.read('pre')), collect(log.readAll({ limit: 10 })), log.revision('pre')] as const;
    const closing = log.close();
    const drained = drain(reader);
    release();

    const [appended, readsDone, rest] = await within(
      Promise.all([Promise.allSettled(appends), Promise.allSettled(reads), drained, closing, sub.done]),
      bound,
      'close(), or an append, read, reader or subscription in flight when it was called',
    );
    appended.forEach((o, b) => expectDoneOrClosed(o, `append of batch ${b}`));
    readsDone.forEach((o, i) => expectDoneOrClosed(o, `read ${i}`));
    const [readPre, readAllTen, revisionPre] = readsDone;
    if (readPre.status === 'fulfilled') expect(readPre.value.map((e) => e.revision)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    if (readAllTen.status === 'fulfilled') expect(readAllTen.value).toHaveLength(10);
    if (revisionPre.status === 'fulfilled') expect(revisionPre.value).toBe(30);
    if (!rest.closed) expect(1 + rest.got.length).toBeGreaterThanOrEqual(30);
    expect(delivered).toEqual(delivered.map((_, i) => i + 1)); // in order, no duplicate
    for (const [b, o] of appended.entries()) {
      if (o.status === 'fulfilled' && batches[b]!.stream !== 'shared') expect(o.value.revision).toBe(3);
    }

    if (!ctx.options.reopen) return;
    const again = await ctx.open(p);
    const all = await collect(again.readAll());
    const inFlight = all.filter((e) => e.type === 'InFlight');
    for (const [b, o] of appended.entries()) {
      const stored = inFlight.filter((e) => (e.data as { b: number }).b === b);
      expect([0, 3], `batch ${b} stored ${stored.length} of its 3 events`).toContain(stored.length);
      if (o.status === 'fulfilled') expect(stored.map((e) => (e.data as { k: number }).k)).toEqual([0, 1, 2]);
      if (stored.length === 3) expect(stored.map((e) => e.revision - stored[0]!.revision)).toEqual([0, 1, 2]);
    }
    for (const stream of new Set(all.map((e) => e.stream))) {
      const revs = all.filter((e) => e.stream === stream).map((e) => e.revision);
      expect(revs, `revisions of ${stream}`).toEqual(revs.map((_, i) => i + 1));
    }
  });

  if (ctx.options.reopen) {
    it('an idempotent retry through a second instance returns the original result and stores the batch once', async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = await ctx.open(p); // opened before the first append: its view of the ids must not be stale
      const batch = idBatch('retry', 2);
      const first = await a.append('s', batch, { expectedRevision: 'no_stream' });
      await a.append('other', events(1));
      expect(await b.append('s', batch, { expectedRevision: 'no_stream' })).toEqual(first);
      expect(await b.append('s', batch)).toEqual(first);
      const err = await b.append('t', [batch[0]!]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      await a.close();
      const c = await ctx.open(p);
      expect(await c.append('s', batch, { expectedRevision: 'no_stream' })).toEqual(first);
      expect(await c.revision('s')).toBe(2);
      expect(await b.revision('t')).toBe(0);
      expect(await collect(c.readAll())).toHaveLength(3);
    });
  }

  /** Race two appends; returns the outcomes. */
  const race = (x: () => Promise<AppendResult>, y: () => Promise<AppendResult>) => Promise.allSettled([x(), y()]);

  async function expectStoredOnce(log: EventLog, ids: readonly string[]): Promise<void> {
    const all = await collect(log.readAll());
    for (const id of ids) expect(all.filter((e) => e.id === id), `event id ${id}`).toHaveLength(1);
  }

  const instances = ctx.options.reopen ? (['one instance', 'two instances'] as const) : (['one instance'] as const);
  for (const where of instances) {
    it(`two appends of the same batch racing (${where}): stored once, both answered with the original result`, async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = where === 'one instance' ? a : await ctx.open(p);
      await a.append('s', events(1));
      for (let round = 0; round < 3; round++) {
        const batch = idBatch(`race${round}`, 2);
        const [x, y] = await race(
          () => a.append('s', batch),
          () => b.append('s', batch, { expectedRevision: round % 2 === 0 ? 'any' : 1 + 2 * round }),
        );
        expect(x.status === 'fulfilled' ? 'ok' : x.reason).toBe('ok');
        expect(y.status === 'fulfilled' ? 'ok' : y.reason).toBe('ok');
        const rx = (x as PromiseFulfilledResult<AppendResult>).value;
        expect((y as PromiseFulfilledResult<AppendResult>).value).toEqual(rx);
        expect(rx.revision).toBe(3 + 2 * round);
        await expectStoredOnce(a, batch.map((e) => e.id!));
      }
      expect(await b.revision('s')).toBe(7);
    });

    it(`two appends racing with the same event id into different streams (${where}): one is stored, the other is ValidationError`, async () => {
      const p = await ctx.place();
      const a = await ctx.open(p);
      const b = where === 'one instance' ? a : await ctx.open(p);
      const [e] = idBatch('clash', 1);
      const outcomes = await race(
        () => a.append('x', [e!]),
        () => b.append('y', [e!]),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected')!;
      expect(lost.reason).toBeInstanceOf(ValidationError);
      expect((await a.revision('x')) + (await a.revision('y'))).toBe(1);
      await expectStoredOnce(b, [e!.id!]);
    });
  }
}
