/**
 * The runner property shared by every backend: random appends (several streams, handled and
 * unhandled types, multi-event appends), with a rebuild of every projection started at a random
 * point while appends continue; afterwards inline == async == rebuilt == the fold of the log, and
 * the counting view shows every handled position applied exactly once.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { ProjectionRunner, type EventLog, type ViewStorage } from '../../src/index.js';
import { countingProjection, foldLog, readCounting, summary } from './projection-counting.js';

export interface PropertyEnv {
  log: EventLog;
  /** storage of the inline projection (omit: async only, e.g. Redis) */
  inline?: ViewStorage;
  /** storage of the async projection */
  async: ViewStorage;
  cleanup(): Promise<void>;
}

export interface Op {
  stream: number;
  events: { type: 'Added' | 'Other'; n: number }[];
}

export const opArb: fc.Arbitrary<Op> = fc.record({
  stream: fc.integer({ min: 0, max: 4 }),
  events: fc.array(fc.record({ type: fc.constantFrom<'Added' | 'Other'>('Added', 'Added', 'Other'), n: fc.integer({ min: -1000, max: 1000 }) }), { minLength: 1, maxLength: 4 }),
});

export const scenarioArb = fc.record({
  ops: fc.array(opArb, { minLength: 0, maxLength: 25 }),
  rebuildAt: fc.nat({ max: 25 }),
  batchSize: fc.integer({ min: 1, max: 10 }),
});

export type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Run one scenario on a fresh environment; throws (expect) when a view differs from the model. */
export async function runScenario(env: PropertyEnv, sc: Scenario): Promise<void> {
  const inl = countingProjection({ name: 'inl' });
  const asy = countingProjection({ name: 'asy' });
  const projections = [...(env.inline ? [{ projection: inl, mode: 'inline' as const, storage: env.inline }] : []), { projection: asy, mode: 'async' as const, storage: env.async }];
  const names = projections.map((p) => p.projection.name);
  const runner = new ProjectionRunner({ log: env.log, projections, batchSize: sc.batchSize, batchMs: 5, leaseMs: 5_000 });
  try {
    await runner.start();
    let rebuilding: Promise<unknown> | undefined;
    for (let i = 0; i < sc.ops.length; i++) {
      if (i === sc.rebuildAt) rebuilding = Promise.all(names.map((n) => runner.rebuild(n)));
      const op = sc.ops[i]!;
      await env.log.append(`s-${op.stream}`, op.events.map((e) => ({ type: e.type, data: { n: e.n } })));
    }
    await rebuilding;
    await runner.whenCaughtUp();
    const model = await foldLog(env.log);
    const expected = { positions: model.positions, sum: model.sum, duplicates: [] };
    for (const p of projections) expect(summary(await readCounting(p.storage, p.projection.name)), `${p.projection.name} (${p.mode}, ${p.storage.kind})`).toEqual(expected);
    // a rebuild from scratch gives the same view again
    for (const n of names) await runner.rebuild(n);
    for (const p of projections) expect(summary(await readCounting(p.storage, p.projection.name)), `${p.projection.name} rebuilt`).toEqual(expected);
    for (const s of await runner.status()) {
      expect(s.lastError).toBeUndefined();
      expect(s.lagEvents).toBe(0);
    }
  } finally {
    await runner.close();
    await env.cleanup();
  }
}
