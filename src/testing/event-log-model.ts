/**
 * EventLog contract: a model-based test. Random command lists (appends with every kind of
 * expectation, retries, reads, readAll windows, revision checks) run against the backend and
 * against a plain in-test model; every answer must agree.
 *
 * Each run gets a fresh place from the factory (a backend shared between runs would grow with
 * every run and slow each readAll down). The runs stop at a time limit below the test timeout, so
 * a rare failure that shrinks slowly still prints its counterexample instead of a timeout; under
 * CI the first failure is reported as found, without shrinking. A close() that does not settle
 * fails the run with what the process still has open.
 */
import { it, expect } from 'vitest';
import fc from 'fast-check';
import { ConcurrencyError } from '../core/errors.js';
import type { AppendResult, EventLog, ExpectedRevision, NewEvent, RecordedEvent } from '../streams/event-log.js';
import type { ContractContext } from './event-log-contract.js';
import type { EventLogPlace } from './event-log-support.js';
import { collect, shape } from './event-log-support.js';
import { IN_CI } from './ci.js';

/** The test's timeout: the slowest backend (PostgreSQL, 100 runs) needs a fraction of it on a loaded 2-core machine. */
const TEST_TIMEOUT_MS = 240_000;
/** fast-check stops running (or shrinking) here, leaving time to report the counterexample and clean up. */
const RUN_TIME_LIMIT_MS = 180_000;
/** A close() takes milliseconds; past this it hangs, and the run fails saying what is still open. */
const CLOSE_WATCHDOG_MS = 30_000;

const STREAMS = ['alpha', 'beta', 'gamma/δ'];
const TYPES = ['A', 'B', 'C'];
type Expectation = 'correct' | 'stale' | 'future' | 'any' | 'no_stream' | 'stream_exists' | 'zero' | 'none';

/**
 * Read windows: streams reach 40 revisions and more in a run, so a window bound is drawn as a
 * share of the stream's length when the read runs (0-110 %: 0, every revision, and past the end;
 * see {@link windowBound}), not as a fixed small number. Limits: short ones half of the time.
 */
const shareArb = fc.nat(110);
const limitArb = fc.oneof(fc.nat(5), fc.nat(60));

/** The revision at `share` % of a stream of `length` events (0 when empty, up to length + 1 and past). */
function windowBound(share: number, length: number): number {
  return Math.round((share / 100) * (length + 1));
}

type Command =
  | { kind: 'append'; stream: number; n: number; type: number; expect: Expectation; ids: boolean }
  | { kind: 'retry'; expect: Expectation }
  /** `from`/`to`: shares of the stream's length (see {@link windowBound}) */
  | { kind: 'read'; stream: number; from?: number; to?: number; backward: boolean; limit?: number }
  | { kind: 'readAll'; at: number; limit?: number; types?: number[] }
  | { kind: 'revision'; stream: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), stream: fc.nat(2), n: fc.integer({ min: 1, max: 3 }), type: fc.nat(2), expect: fc.constantFrom<Expectation>('correct', 'stale', 'future', 'any', 'no_stream', 'stream_exists', 'zero', 'none'), ids: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), expect: fc.constantFrom<Expectation>('any', 'no_stream', 'stale') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), stream: fc.nat(2), from: fc.option(shareArb, { nil: undefined }), to: fc.option(shareArb, { nil: undefined }), backward: fc.boolean(), limit: fc.option(limitArb, { nil: undefined }) }, { requiredKeys: ['kind', 'stream', 'backward'] }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('readAll' as const), at: fc.nat(100), limit: fc.option(fc.nat(6), { nil: undefined }), types: fc.option(fc.subarray([0, 1, 2]), { nil: undefined }) }, { requiredKeys: ['kind', 'at'] }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('revision' as const), stream: fc.nat(2) }) },
);

interface ModelEvent {
  stream: string;
  revision: number;
  type: string;
  data: unknown;
  id?: string;
}

/** The reference: streams as arrays, a global list in append order. */
class Model {
  readonly all: ModelEvent[] = [];
  readonly streams = new Map<string, ModelEvent[]>();
  lastPosition = 0;
  lastBatch: { stream: string; events: NewEvent[]; result: AppendResult } | undefined;

  revision(stream: string): number {
    return this.streams.get(stream)?.length ?? 0;
  }
  expected(kind: Expectation, cur: number): ExpectedRevision | undefined {
    switch (kind) {
      case 'correct': return cur;
      case 'stale': return Math.max(0, cur - 1) === cur ? cur + 2 : cur - 1;
      case 'future': return cur + 1;
      case 'zero': return 0;
      case 'none': return undefined;
      default: return kind;
    }
  }
  accepts(e: ExpectedRevision | undefined, cur: number): boolean {
    if (e === undefined || e === 'any') return true;
    if (e === 'no_stream') return cur === 0;
    if (e === 'stream_exists') return cur > 0;
    return e === cur;
  }
  apply(stream: string, events: NewEvent[]): void {
    const s = this.streams.get(stream) ?? [];
    this.streams.set(stream, s);
    for (const e of events) {
      const m = { stream, revision: s.length + 1, type: e.type, data: e.data, id: e.id };
      s.push(m);
      this.all.push(m);
    }
  }
}

const strip = (m: ModelEvent) => ({ stream: m.stream, revision: m.revision, type: m.type, data: m.data });

async function runCommands(log: EventLog, cmds: readonly Command[]): Promise<void> {
  const model = new Model();
  for (const [i, c] of cmds.entries()) {
    if (c.kind === 'append' || c.kind === 'retry') {
      const batch = c.kind === 'retry' ? model.lastBatch : undefined;
      if (c.kind === 'retry' && !batch) continue;
      const stream = batch ? batch.stream : STREAMS[(c as { stream: number }).stream]!;
      const cur = model.revision(stream);
      const expectedRevision = model.expected(c.expect, cur);
      const events: NewEvent[] = batch
        ? batch.events
        : Array.from({ length: (c as { n: number }).n }, (_, k) => ({ type: TYPES[(c as { type: number }).type]!, data: { cmd: i, k }, ...((c as { ids: boolean }).ids ? { id: `cmd-${i}-${k}` } : {}) }));
      const outcome = await log.append(stream, events, expectedRevision === undefined ? undefined : { expectedRevision }).then((r) => r, (e: unknown) => e);
      if (batch) {
        expect(outcome, `retry of ${stream}`).toEqual(batch.result);
        continue;
      }
      if (model.accepts(expectedRevision, cur)) {
        expect(outcome, `append #${i} to ${stream} expecting ${String(expectedRevision)}`).toMatchObject({ revision: cur + events.length });
        const r = outcome as AppendResult;
        expect(r.position).toBeGreaterThan(model.lastPosition);
        model.lastPosition = r.position;
        model.apply(stream, events);
        if ((c as { ids: boolean }).ids) model.lastBatch = { stream, events, result: r };
      } else {
        expect(outcome, `append #${i} to ${stream} expecting ${String(expectedRevision)} at ${cur}`).toBeInstanceOf(ConcurrencyError);
        expect(outcome).toMatchObject({ expected: expectedRevision, actual: cur });
      }
    } else if (c.kind === 'read') {
      const stream = STREAMS[c.stream]!;
      const s = model.streams.get(stream) ?? [];
      const limit = c.limit ?? Infinity;
      const from = c.from === undefined ? undefined : windowBound(c.from, s.length);
      const to = c.to === undefined ? undefined : windowBound(c.to, s.length);
      let want: ModelEvent[];
      if (c.backward) {
        const hi = from ?? Infinity;
        const lo = Math.max(1, to ?? 1);
        want = s.filter((m) => m.revision <= hi && m.revision >= lo).reverse().slice(0, limit);
      } else {
        const lo = Math.max(1, from ?? 1);
        const hi = to ?? Infinity;
        want = s.filter((m) => m.revision >= lo && m.revision <= hi).slice(0, limit);
      }
      const options = { fromRevision: from, toRevision: to, direction: c.backward ? ('backward' as const) : ('forward' as const), limit: c.limit };
      const got = await collect(log.read(stream, options));
      expect(got.map(shape), `read #${i} of ${stream} (${s.length} events) ${JSON.stringify(options)}`).toEqual(want.map(strip));
    } else if (c.kind === 'readAll') {
      const all = await collect(log.readAll());
      checkAll(all, model);
      const k = Math.min(all.length, Math.floor((c.at / 100) * (all.length + 1)));
      const from = k === 0 ? 0 : all[k - 1]!.position;
      const types = c.types?.map((t) => TYPES[t]!);
      const want = all.slice(k).filter((e) => !types || types.includes(e.type)).slice(0, c.limit ?? Infinity);
      const got = await collect(log.readAll({ fromPosition: from, limit: c.limit, types }));
      expect(got.map((e) => e.id), `readAll #${i} ${JSON.stringify(c)}`).toEqual(want.map((e) => e.id));
    } else {
      const stream = STREAMS[c.stream]!;
      expect(await log.revision(stream)).toBe(model.revision(stream));
    }
  }
  checkAll(await collect(log.readAll()), model);
  for (const stream of STREAMS) expect(await log.revision(stream)).toBe(model.revision(stream));
}

function checkAll(all: RecordedEvent[], model: Model): void {
  expect(all.map(shape)).toEqual(model.all.map(strip));
  for (const [j, e] of all.entries()) {
    if (j > 0) expect(e.position).toBeGreaterThan(all[j - 1]!.position);
    if (model.all[j]!.id !== undefined) expect(e.id).toBe(model.all[j]!.id);
  }
  if (all.length > 0) expect(all[all.length - 1]!.position).toBe(model.lastPosition);
  expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
}

/** `log.close()`, failing with what the process still has open when it does not settle within {@link CLOSE_WATCHDOG_MS}. */
async function closeWithWatchdog(log: EventLog, commands: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const open = new Map<string, number>();
      for (const r of process.getActiveResourcesInfo()) open.set(r, (open.get(r) ?? 0) + 1);
      const list = [...open].map(([r, n]) => `${r} x${n}`).join(', ');
      reject(new Error(`close() still pending after ${CLOSE_WATCHDOG_MS} ms (after ${commands} commands); the process has open: ${list}`));
    }, CLOSE_WATCHDOG_MS);
  });
  try {
    await Promise.race([log.close(), hang]);
  } finally {
    clearTimeout(timer);
  }
}

export function modelTests(ctx: ContractContext, factory: () => EventLogPlace | Promise<EventLogPlace>): void {
  const { runs, commands } = ctx.options;
  it(
    `random command lists (${runs} runs of >= ${commands} appends, retries, reads, readAll windows, revisions) agree with the reference model`,
    async () => {
      let ran = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(commandArb, { minLength: commands, maxLength: commands + 20 }), async (cmds) => {
          ran++;
          const place = await factory();
          const log = await place.open();
          try {
            await runCommands(log, cmds);
          } finally {
            await closeWithWatchdog(log, cmds.length);
            await place.cleanup?.();
          }
        }),
        { numRuns: runs, interruptAfterTimeLimit: RUN_TIME_LIMIT_MS, endOnFailure: IN_CI },
      );
      // an interrupted property passes with the runs it made: say so rather than pass quietly
      if (ran < runs) console.warn(`model test: time limit of ${RUN_TIME_LIMIT_MS} ms reached after ${ran} of ${runs} runs`);
    },
    TEST_TIMEOUT_MS,
  );
}
