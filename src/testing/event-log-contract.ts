/**
 * The EventLog conformance suite. Run it against any backend (ours or a third party's):
 *
 * @example
 * ```ts
 * import { eventLogContract } from 'dgent/testing';
 * eventLogContract('MyEventLog', () => {
 *   const dir = makeTempDir();
 *   return { open: () => new MyEventLog({ dir }), cleanup: () => rm(dir) };
 * }, { reopen: true });
 * ```
 *
 * Every test gets a fresh place from the factory; the model-based test gets one per run.
 */
import { describe, afterEach } from 'vitest';
import type { EventLog } from '../streams/event-log.js';
import { appendTests } from './event-log-append-tests.js';
import { readTests } from './event-log-read-tests.js';
import { subscribeTests } from './event-log-subscribe-tests.js';
import { lifecycleTests } from './event-log-lifecycle-tests.js';
import { modelTests } from './event-log-model.js';
import type { EventLogContractOptions, EventLogPlace } from './event-log-support.js';

export type { EventLogContractOptions, EventLogPlace } from './event-log-support.js';

/** What each group of contract tests gets: fresh places and logs that are closed and cleaned up after the test. */
export interface ContractContext {
  readonly options: Required<Omit<EventLogContractOptions, 'jsonOnly' | 'reopen'>> & Pick<EventLogContractOptions, 'jsonOnly' | 'reopen'>;
  /** a fresh storage location */
  place(): Promise<EventLogPlace>;
  /** open a log over `place` (closed after the test) */
  open(place: EventLogPlace): Promise<EventLog>;
  /** a fresh log over a fresh place */
  log(): Promise<EventLog>;
}

/** Register the EventLog conformance tests for one backend. */
export function eventLogContract(name: string, factory: () => EventLogPlace | Promise<EventLogPlace>, options: EventLogContractOptions = {}): void {
  describe(`EventLog contract: ${name}`, () => {
    const places: EventLogPlace[] = [];
    const opened: EventLog[] = [];
    const ctx: ContractContext = {
      options: {
        reopen: options.reopen,
        jsonOnly: options.jsonOnly,
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
    };
    afterEach(async () => {
      // close is idempotent by contract, so logs a test already closed are closed again here
      for (const log of opened.splice(0)) await log.close();
      for (const p of places.splice(0)) await p.cleanup?.();
    });

    appendTests(ctx);
    readTests(ctx);
    subscribeTests(ctx);
    lifecycleTests(ctx);
    modelTests(ctx, factory);
  });
}
