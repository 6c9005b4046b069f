/**
 * EventStoreDBEventLog.close() with reads the consumer stopped early or still holds: it must
 * settle. Runs against the in-process gRPC PROTOCOL DOUBLE (test/support/esdb-double), through
 * the official client.
 *
 * The hang these tests pin down: a read the adapter stopped consuming (a limit reached,
 * `revision()`'s one event, an id-claim lookup) left the gRPC call paused with events buffered.
 * When the server's status had already arrived, cancelling it did nothing and it never emitted
 * 'end', so `client.dispose()` (and `close()`) waited for ever. It needs the status to arrive
 * while the call is paused with events still buffered: 34-45 events in the response with the
 * default buffer sizes. The consumer below pauses after its first event until the double has
 * written the whole response (an event, not a duration), then a little longer for the client to
 * read it off the socket: a shorter pause can only make the old code pass by luck, never make the
 * fixed code fail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { ClosedError, DgentError } from '../src/core/errors.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import { events, waitFor } from '../src/testing/event-log-support.js';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double/esdb-double.js';

/** Far above what a close takes on a loaded machine (milliseconds); only a hang reaches it. */
const WATCHDOG_MS = 20_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(n: number, options: { closeTimeoutMs?: number } = {}): Promise<{ double: EsdbDouble; log: EventStoreDBEventLog }> {
  const double = await startEsdbDouble();
  cleanups.push(() => double.stop());
  // closeTimeoutMs far above the watchdog by default: close() must settle because nothing is left open, not because of the bound
  const log = new EventStoreDBEventLog({ connectionString: double.connectionString, closeTimeoutMs: options.closeTimeoutMs ?? 10 * WATCHDOG_MS });
  if (n > 0) await log.append('s', events(n));
  return { double, log };
}

/** 'settled' or 'rejected: <message>' when `p` settles, 'still pending' when the watchdog fires first. */
async function outcome(p: Promise<unknown>, ms = WATCHDOG_MS): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`still pending after ${ms} ms`), ms);
  });
  const settled = p.then(
    () => 'settled',
    (e: unknown) => `rejected: ${String(e)}`,
  );
  try {
    return await Promise.race([settled, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pause until the double has written `answered` Read responses in full, then let the client take them off the socket. */
async function pauseUntilAnswered(double: EsdbDouble, answered: number): Promise<void> {
  await waitFor(() => double.readsAnswered() >= answered, WATCHDOG_MS, `${answered} Read responses written`);
  await new Promise((r) => setTimeout(r, 300));
}

describe('EventStoreDBEventLog.close() never waits on an abandoned read (protocol double)', () => {
  for (const n of [34, 37, 40, 43, 45, 3, 120]) {
    it(`close() settles after readAll({ limit: 3 }) whose consumer paused after its first event (${n} events in the response)`, async () => {
      const { double, log } = await setup(n);
      const seen: number[] = [];
      for await (const e of log.readAll({ limit: 3 })) {
        seen.push(e.revision);
        if (seen.length === 1) await pauseUntilAnswered(double, 1);
      }
      expect(seen).toEqual([1, 2, 3].slice(0, Math.min(3, n)));
      expect(await outcome(log.close())).toBe('settled');
    });
  }

  it('a consumer still holding a readAll iterator when close() is called gets ClosedError, and close() settles', async () => {
    const { double, log } = await setup(40);
    const it = log.readAll()[Symbol.asyncIterator]();
    expect((await it.next()).value).toMatchObject({ revision: 1 });
    await pauseUntilAnswered(double, 1);
    expect(await outcome(log.close())).toBe('settled');
    await expect(it.next()).rejects.toBeInstanceOf(ClosedError);
  });

  it('close() settles after revision(), limited reads and id-claim retries (reads that stop after their first events)', async () => {
    const { log } = await setup(40);
    const batch = [{ id: 'claim-1', type: 'T', data: 1 }, { id: 'claim-2', type: 'T', data: 2 }];
    const first = await log.append('t', batch);
    for (let i = 0; i < 5; i++) {
      expect(await log.revision('s')).toBe(40);
      expect(await log.append('t', batch)).toEqual(first); // the claims are held: two claim lookups and a retry lookup
      let k = 0;
      for await (const e of log.read('s', { direction: 'backward' })) if (++k === 2) break; else expect(e.revision).toBe(40);
    }
    expect(await outcome(log.close())).toBe('settled');
  });

  it('when the client cannot dispose within closeTimeoutMs, close() rejects with a DgentError saying so instead of waiting for ever', async () => {
    const { double, log } = await setup(40, { closeTimeoutMs: 500 });
    // abandon a read of the log's own client the way the adapter used to: stop early, never drain it
    const client = (log as unknown as { client: EventStoreDBClient }).client;
    const reader = client.readAll({ maxCount: 512 });
    let call: NodeJS.ReadableStream | undefined;
    reader.once('pipe', (src: unknown) => void (call = src as NodeJS.ReadableStream));
    cleanups.push(async () => void call?.resume()); // let the leftover call end after the test
    let k = 0;
    for await (const _ of reader) if (++k === 1) await pauseUntilAnswered(double, 1); else if (k === 3) break;
    const closing = log.close().then(() => undefined, (e: unknown) => e);
    expect(await outcome(closing)).toBe('settled');
    const err = await closing;
    expect(err).toBeInstanceOf(DgentError);
    expect((err as Error).message).toMatch(/did not dispose within 500 ms; still open/);
    await expect(log.close()).resolves.toBeUndefined(); // closed all the same
  });
});
