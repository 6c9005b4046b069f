/**
 * The EventLog conformance suite. Run it against any backend (ours or a third party's):
 *
 * @example
 * ```ts
 * import { eventLogContract } from 'dgent/testing';
 * eventLogContract('MyEventLog', () => {
 *   const dir = makeTempDir();
 *   return { open: () => new MyEventLog({ dir }), cleanup: () => rm(dir) };
 * }, { reopen: true, requires: ['durable'] });
 * ```
 *
 * Every test gets a fresh place from the factory; the model-based test gets one per run.
 */
import { describe, afterEach, it, expect } from 'vitest';
import type { EventLog } from '../streams/event-log.js';
import { appendTests } from './event-log-append-tests.js';
import { readTests } from './event-log-read-tests.js';
import { subscribeTests } from './event-log-subscribe-tests.js';
import { lifecycleTests } from './event-log-lifecycle-tests.js';
import { concurrencyTests } from './event-log-concurrency-tests.js';
import { modelTests } from './event-log-model.js';
import { logOffers, within, type EventLogCapability, type EventLogContractOptions, type EventLogPlace } from './event-log-support.js';

export type { EventLogCapability, EventLogContractOptions, EventLogPlace } from './event-log-support.js';

/** What each group of contract tests gets: fresh places and logs that are closed and cleaned up after the test. */
export interface ContractContext {
  readonly options: Required<Omit<EventLogContractOptions, 'jsonOnly' | 'reopen' | 'requires'>> & Pick<EventLogContractOptions, 'jsonOnly' | 'reopen' | 'requires'>;
  /** a fresh storage location */
  place(): Promise<EventLogPlace>;
  /** open a log over `place` (closed after the test) */
  open(place: EventLogPlace): Promise<EventLog>;
  /** a fresh log over a fresh place */
  log(): Promise<EventLog>;
  /**
   * Whether to run a capability's test on `log`: true when offered; when not, a required
   * capability throws (the test fails) and any other skips the test.
   */
  gate(t: { skip(note?: string): void }, log: EventLog, cap: EventLogCapability): boolean;
}

/** Register the EventLog conformance tests for one backend. */
export function eventLogContract(name: string, factory: () => EventLogPlace | Promise<EventLogPlace>, options: EventLogContractOptions = {}): void {
  describe(`EventLog contract: ${name}`, () => {
    const places: EventLogPlace[] = [];
    const opened: EventLog[] = [];
    const required = new Set(options.requires ?? []);
    const ctx: ContractContext = {
      options: {
        reopen: options.reopen,
        jsonOnly: options.jsonOnly,
        requires: options.requires,
        runs: options.runs ?? 100,
        commands: options.commands ?? 50,
        concurrentAppenders: options.concurrentAppenders ?? 5,
        deliveryTimeoutMs: options.deliveryTimeoutMs ?? 30_000,
      },
      async place() {
        const p = await factory();
        places.push(p);
        return p;
      },
      async open(p) {
        const log = await p.open();
        opened.push(log);
        return log;
      },
      async log() {
        return ctx.open(await ctx.place());
      },
      gate(t, log, cap) {
        if (logOffers(log, cap)) return true;
        if (required.has(cap)) throw new Error(`${name} is required to offer '${cap}' (options.requires) but the log does not`);
        t.skip(`the log does not offer '${cap}'`);
        return false;
      },
    };
    afterEach(async () => {
      // close is idempotent by contract, so logs a test already closed are closed again here
      for (const log of opened.splice(0)) await within(log.close(), ctx.options.deliveryTimeoutMs, 'close() of a log after the test');
      for (const p of places.splice(0)) await p.cleanup?.();
    });

    if (required.size > 0) {
      it(`offers every required capability: ${[...required].join(', ')}`, async () => {
        const log = await ctx.log();
        expect([...required].filter((cap) => !logOffers(log, cap)), 'required capabilities the log does not offer').toEqual([]);
      });
    }

    appendTests(ctx);
    readTests(ctx);
    subscribeTests(ctx);
    lifecycleTests(ctx);
    concurrencyTests(ctx);
    modelTests(ctx, factory);
  });
}
