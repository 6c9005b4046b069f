/**
 * Contract of eraseStream (streams/erase.ts) as a model-based property: random appends (single and
 * appendMany, with caller ids), erasures and idempotent retries run on MemoryEventLog (the
 * reference, whose eraseStream is the memory log's) and on the log under test; after every step
 * both return the same eraseStream counts, and at the end every read path (readAll in windows and
 * pages, read forwards and backwards, revision, a subscription from 0) returns the same events.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { MemoryEventLog, ERASED_EVENT_TYPE } from '../../src/index.js';
import type { EventLog, RecordedEvent, StreamAppend } from '../../src/index.js';
import type { StreamEraser } from '../../src/streams/erase.js';

type ErasableLog = EventLog & StreamEraser & { appendMany(a: readonly StreamAppend[]): Promise<unknown> };

export type EraseOp =
  | { kind: 'append'; stream: number; n: number; withMeta: boolean }
  | { kind: 'many'; streams: number[] }
  | { kind: 'erase'; stream: number; before: number }
  | { kind: 'retry' };

export const STREAMS = ['a', 'b/c', 'd:{x}'];

export const eraseOps = fc.array(
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), stream: fc.nat(2), n: fc.integer({ min: 1, max: 3 }), withMeta: fc.boolean() }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('many' as const), streams: fc.uniqueArray(fc.nat(2), { minLength: 1, maxLength: 3 }) }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('erase' as const), stream: fc.nat(2), before: fc.integer({ min: 1, max: 12 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const) }) },
  ),
  { minLength: 1, maxLength: 30 },
);

/** What can be compared across logs: everything but the append time. */
export const shape = (e: RecordedEvent) => ({ id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, data: e.data, metadata: e.metadata });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Run `ops` on every log (ids derived from `seed`), checking each append's results against the first log's; returns the eraseStream counts of each. */
export async function runEraseOps(ops: readonly EraseOp[], logs: readonly ErasableLog[], seed: string): Promise<number[][]> {
  const counts: number[][] = logs.map(() => []);
  let next = 0;
  let last: StreamAppend[] | undefined;
  for (const op of ops) {
    if (op.kind === 'erase') {
      for (let i = 0; i < logs.length; i++) counts[i]!.push(await logs[i]!.eraseStream(STREAMS[op.stream]!, op.before));
      continue;
    }
    const batch: StreamAppend[] =
      op.kind === 'append'
        ? [{ stream: STREAMS[op.stream]!, events: Array.from({ length: op.n }, () => ({ id: `${seed}-${next++}`, type: 'T', data: { n: next, s: 'x'.repeat(next % 5) }, ...(op.withMeta ? { metadata: { who: 'u' } } : {}) })) }]
        : op.kind === 'many'
          ? op.streams.map((s) => ({ stream: STREAMS[s]!, events: [{ id: `${seed}-${next++}`, type: 'M', data: [next] }] }))
          : (last ?? []);
    if (batch.length === 0) continue;
    // an exact retry of the last batch (possibly erased since) returns the original results on both
    const results = [];
    for (const log of logs) results.push(await log.appendMany(batch));
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    last = batch;
  }
  return counts;
}

/** Every read path of `log` equals the reference's. */
export async function expectSameReads(reference: EventLog, log: EventLog): Promise<void> {
  const all = (await collect(reference.readAll())).map(shape);
  expect((await collect(log.readAll())).map(shape)).toEqual(all);
  // windows: from each position, a short limit (crosses erased and stored events)
  for (let from = 0; from <= all.length; from += 3) {
    expect((await collect(log.readAll({ fromPosition: from, limit: 4 }))).map(shape)).toEqual(all.filter((e) => e.position > from).slice(0, 4));
  }
  expect((await collect(log.readAll({ types: [ERASED_EVENT_TYPE] }))).map(shape)).toEqual(all.filter((e) => e.type === ERASED_EVENT_TYPE));
  for (const s of STREAMS) {
    expect(await log.revision(s)).toBe(await reference.revision(s));
    expect((await collect(log.read(s))).map(shape)).toEqual((await collect(reference.read(s))).map(shape));
    expect((await collect(log.read(s, { direction: 'backward' }))).map(shape)).toEqual((await collect(reference.read(s, { direction: 'backward' }))).map(shape));
  }
  // a subscription from 0 delivers the same events
  const got: RecordedEvent[] = [];
  await new Promise<void>((resolve, reject) => {
    if (all.length === 0) return resolve();
    const sub = log.subscribe({ fromPosition: 0 }, (e) => {
      got.push(e);
      if (got.length === all.length) {
        void sub.close().then(resolve, reject);
      }
    });
    sub.done.catch(reject);
  });
  expect(got.map(shape)).toEqual(all);
}

/** The property: `open()` gives a fresh empty log of the kind under test. */
export function eraseProperty(open: () => Promise<{ log: ErasableLog; cleanup: () => Promise<void> }>, runs: number): Promise<void> {
  let run = 0;
  return fc.assert(
    fc.asyncProperty(eraseOps, async (ops) => {
      const reference = new MemoryEventLog();
      const { log, cleanup } = await open();
      try {
        const [want, got] = await runEraseOps(ops, [reference, log], `r${run++}`);
        expect(got).toEqual(want);
        await expectSameReads(reference, log);
      } finally {
        await reference.close();
        await cleanup();
      }
    }),
    { numRuns: runs },
  );
}

export { ERASED_EVENT_TYPE };
export type { ErasableLog };
