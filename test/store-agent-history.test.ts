/**
 * history({ since, until, limit }) on `store.agent(key)` (StoreAgent), on a memory and a SQLite
 * log, as test/agent-history.test.ts checks it on the other versioned agents: a fast-check property
 * compares it with a model built from the states saved and the times the log stored them at (Date
 * faked, so saves land on chosen milliseconds, several on one); deletions are not states; bad
 * windows are ValidationError.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEventLog, SqliteEventLog, Store, ValidationError, type EventLog, type HistoryOptions } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-store-agent-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => void vi.useRealTimers());

let seq = 0;
const kinds: { name: string; log(): EventLog }[] = [
  { name: 'memory log', log: () => new MemoryEventLog() },
  { name: 'SQLite log', log: () => new SqliteEventLog({ path: join(dir, `s${seq++}.db`) }) },
];

async function logTimes(log: EventLog, stream: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of log.read(stream)) out.push(e.time.getTime());
  return out;
}

/** The model: saved states inside the window, newest first, at most limit (undefined: a deletion). */
function expected(states: (number | undefined)[], times: number[], o: { since?: number; until?: number; limit?: number }): { i: number }[] {
  const out: { i: number }[] = [];
  for (let v = states.length - 1; v >= 0; v--) {
    const t = times[v]!;
    if (states[v] !== undefined && (o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until)) out.push({ i: states[v]! });
  }
  return out.slice(0, o.limit);
}

function asOption(ms: number, form: number): Date | number | string {
  return form === 0 ? ms : form === 1 ? new Date(ms) : new Date(ms).toISOString();
}

const bound = fc.option(fc.record({ at: fc.nat(), delta: fc.integer({ min: -1, max: 1 }), form: fc.integer({ min: 0, max: 2 }) }), { nil: undefined });

for (const kind of kinds) {
  describe(`StoreAgent history window: ${kind.name}`, () => {
    it('history({ since, until, limit }) returns the states saved in the window, newest first, as the model says (fast-check, faked clock)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ step: fc.integer({ min: 0, max: 3 }), del: fc.boolean() }), { minLength: 1, maxLength: 12 }),
          bound,
          bound,
          fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          async (steps, since, until, limit) => {
            vi.useFakeTimers({ toFake: ['Date'] });
            let now = Date.now();
            const log = kind.log();
            const store = new Store({ log, sweepIntervalMs: 0 });
            const agent = store.agent<{ i: number }>('k', { namespace: 'ns' });
            try {
              const states: (number | undefined)[] = [];
              for (const [i, { step, del }] of steps.entries()) {
                now += step; // 0: several saves on one millisecond
                vi.setSystemTime(now);
                if (del && states.length > 0 && states[states.length - 1] !== undefined) {
                  await store.delete('k', { namespace: 'ns' });
                  states.push(undefined);
                } else {
                  await agent.save({ i });
                  states.push(i);
                }
              }
              const stored = await logTimes(log, 'kv:ns/k');
              expect(stored).toHaveLength(states.length);
              const ms = (b: typeof since) => (b === undefined ? undefined : stored[b.at % stored.length]! + b.delta);
              const o: HistoryOptions = {};
              if (since) o.since = asOption(ms(since)!, since.form);
              if (until) o.until = asOption(ms(until)!, until.form);
              if (limit !== undefined) o.limit = limit;
              expect(await agent.history(o)).toStrictEqual(expected(states, stored, { since: ms(since), until: ms(until), limit }));
              expect(await agent.history(2)).toStrictEqual(expected(states, stored, { limit: 2 }));
              expect(await agent.history({})).toStrictEqual(expected(states, stored, {}));
            } finally {
              await agent.close();
              await store.close();
              await log.close();
              vi.useRealTimers();
            }
          },
        ),
        { numRuns: 40 },
      );
    }, 120_000);

    it('a window past the first page of versions (over 100 saves, most outside it) still finds its states', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const t0 = Date.now();
      const log = kind.log();
      const store = new Store({ log, sweepIntervalMs: 0 });
      const agent = store.agent<{ i: number }>('k');
      try {
        for (let i = 0; i < 130; i++) {
          vi.setSystemTime(t0 + i * 10);
          await agent.save({ i });
        }
        expect(await agent.history({ until: t0 + 20 })).toStrictEqual([{ i: 2 }, { i: 1 }, { i: 0 }]);
        expect(await agent.history({ since: t0 + 5, until: t0 + 20, limit: 1 })).toStrictEqual([{ i: 2 }]);
        const [s] = await agent.history({ since: t0 });
        expect(Object.isFrozen(s)).toBe(true);
      } finally {
        await store.close();
        await log.close();
      }
    });

    it('a bad window is ValidationError: unparsable or non-finite times, a bad limit, an unknown option, a non-object', async () => {
      const log = kind.log();
      const store = new Store({ log, sweepIntervalMs: 0 });
      const agent = store.agent<{ i: number }>('k');
      try {
        await agent.save({ i: 1 });
        const bad: unknown[] = [{ since: 'yesterday' }, { until: Number.NaN }, { since: Number.POSITIVE_INFINITY }, { until: new Date('nope') }, { since: {} }, { limit: -1 }, { limit: 1.5 }, { unitl: 5 }, null, 'recent', -1];
        for (const b of bad) await expect(agent.history(b as HistoryOptions), JSON.stringify(b) ?? String(b)).rejects.toBeInstanceOf(ValidationError);
        expect(await agent.history()).toStrictEqual([{ i: 1 }]);
      } finally {
        await store.close();
        await log.close();
      }
    });
  });
}
