/**
 * history({ since, until, limit }) on every versioned agent without a service: VolatileAgent,
 * PersistentAgent (files), SQLAgent (SQLite file), StreamAgent (memory and SQLite logs) and
 * CachedAgent over a SQLAgent. A fast-check property compares each with a model built from the
 * states saved and the times they were stored at; the clock is faked (Date only) so that saves land
 * on chosen milliseconds, several on one, and windows fall on, between and around them.
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CachedAgent,
  MemoryEventLog,
  PersistentAgent,
  SQLAgent,
  SqliteEventLog,
  StreamAgent,
  ValidationError,
  VolatileAgent,
  type DataAgent,
  type Frozen,
  type HistoryOptions,
  type Versioned,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-agent-history-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => void vi.useRealTimers());

type Agent = DataAgent<{ i: number }> & Versioned<{ i: number }>;
interface Opened {
  agent: Agent;
  /** the stored times (epoch ms) of the saved states, oldest first */
  times(): Promise<number[]>;
  close(): Promise<void>;
}

let seq = 0;
const next = (): string => `a${seq++}`;

/** Times from the agent's change notifications: the time each save stored. */
function notifiedTimes(agent: Agent & { subscribe(l: (s: unknown, info: { time: Date }) => void): () => void }): () => Promise<number[]> {
  const times: number[] = [];
  agent.subscribe((_s, info) => void times.push(info.time.getTime()));
  return async () => times;
}

const kinds: { name: string; open(): Promise<Opened> }[] = [
  {
    name: 'VolatileAgent',
    async open() {
      const agent = new VolatileAgent<{ i: number }>();
      return { agent, times: notifiedTimes(agent), close: () => agent.close() };
    },
  },
  {
    name: 'PersistentAgent',
    async open() {
      const agent = new PersistentAgent<{ i: number }>({ path: join(dir, `${next()}.json`) });
      return { agent, times: notifiedTimes(agent), close: () => agent.close() };
    },
  },
  {
    name: 'SQLAgent (SQLite)',
    async open() {
      const agent = new SQLAgent<{ i: number }>({ path: join(dir, 'agents.db'), id: next() });
      return { agent, times: notifiedTimes(agent), close: () => agent.close() };
    },
  },
  {
    name: 'StreamAgent (memory log)',
    async open() {
      const log = new MemoryEventLog();
      const agent = new StreamAgent<never, { i: number }>({ log, stream: 'agent' });
      return { agent, times: () => logTimes(log), close: async () => (await agent.close(), await log.close()) };
    },
  },
  {
    name: 'StreamAgent (SQLite log)',
    async open() {
      const log = new SqliteEventLog({ path: join(dir, `${next()}.log.db`) });
      const agent = new StreamAgent<never, { i: number }>({ log, stream: 'agent' });
      return { agent, times: () => logTimes(log), close: async () => (await agent.close(), await log.close()) };
    },
  },
  {
    name: 'CachedAgent over SQLAgent (SQLite)',
    async open() {
      const backend = new SQLAgent<{ i: number }>({ path: join(dir, 'agents.db'), id: next() });
      const times = notifiedTimes(backend);
      const agent = new CachedAgent({ cache: new VolatileAgent<{ i: number }>({ maxHistory: 1 }), backend, strategy: 'write-through' });
      return { agent: agent as unknown as Agent, times, close: () => agent.close() };
    },
  },
];

async function logTimes(log: MemoryEventLog | SqliteEventLog): Promise<number[]> {
  const out: number[] = [];
  for await (const e of log.read('agent')) out.push(e.time.getTime());
  return out;
}

/** The model: saved states inside the window, newest first, at most limit. */
function expected(states: number[], times: number[], o: { since?: number; until?: number; limit?: number }): { i: number }[] {
  const out: { i: number }[] = [];
  for (let v = states.length - 1; v >= 0; v--) {
    const t = times[v]!;
    if ((o.since === undefined || t >= o.since) && (o.until === undefined || t <= o.until)) out.push({ i: states[v]! });
  }
  return out.slice(0, o.limit);
}

/** A time option in one of its three accepted forms. */
function asOption(ms: number, form: number): Date | number | string {
  return form === 0 ? ms : form === 1 ? new Date(ms) : new Date(ms).toISOString();
}

const bound = fc.option(fc.record({ at: fc.nat(), delta: fc.integer({ min: -1, max: 1 }), form: fc.integer({ min: 0, max: 2 }) }), { nil: undefined });

for (const kind of kinds) {
  describe(`history window: ${kind.name}`, () => {
    it('history({ since, until, limit }) returns the states saved in the window, newest first, as the model says (fast-check, faked clock)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }),
          bound,
          bound,
          fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
          async (steps, since, until, limit) => {
            vi.useFakeTimers({ toFake: ['Date'] });
            let now = Date.now(); // the faked clock starts at the real time: file locks compare it with real mtimes
            const { agent, times, close } = await kind.open();
            try {
              const states: number[] = [];
              for (const [i, step] of steps.entries()) {
                now += step; // 0: several saves on one millisecond
                vi.setSystemTime(now);
                await agent.save({ i });
                states.push(i);
              }
              const stored = await times();
              expect(stored).toHaveLength(states.length);
              const ms = (b: typeof since) => (b === undefined ? undefined : stored[b.at % stored.length]! + b.delta);
              const o: HistoryOptions = {};
              if (since) o.since = asOption(ms(since)!, since.form);
              if (until) o.until = asOption(ms(until)!, until.form);
              if (limit !== undefined) o.limit = limit;
              expect(await agent.history(o)).toStrictEqual(expected(states, stored, { since: ms(since), until: ms(until), limit }));
              // the number form is unchanged, and {} is the whole history
              expect(await agent.history(2)).toStrictEqual(expected(states, stored, { limit: 2 }));
              expect(await agent.history({})).toStrictEqual(expected(states, stored, {}));
            } finally {
              await close();
              vi.useRealTimers();
            }
          },
        ),
        { numRuns: kind.name.startsWith('Persistent') ? 25 : 40 },
      );
    }, 120_000);

    it('a bad window is ValidationError: unparsable or non-finite times, a bad limit, an unknown option, a non-object', async () => {
      const { agent, close } = await kind.open();
      try {
        await agent.save({ i: 1 });
        const bad: unknown[] = [
          { since: 'yesterday' },
          { until: Number.NaN },
          { since: Number.POSITIVE_INFINITY },
          { until: new Date('nope') },
          { since: {} },
          { limit: -1 },
          { limit: 1.5 },
          { unitl: 5 },
          null,
          'recent',
          -1,
        ];
        for (const b of bad) await expect(agent.history(b as HistoryOptions), JSON.stringify(b) ?? String(b)).rejects.toBeInstanceOf(ValidationError);
        expect(await agent.history()).toStrictEqual([{ i: 1 }]);
      } finally {
        await close();
      }
    });
  });
}

describe('history window: edge cases', () => {
  it('times need not grow with versions: a clock stepped back leaves older-stamped saves inside the window, all of them tested', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = new VolatileAgent<{ i: number }>();
    for (const [i, t] of [1000, 3000, 2000, 4000].entries()) {
      vi.setSystemTime(t);
      await a.save({ i });
    }
    expect(await a.history({ until: 2500 })).toStrictEqual([{ i: 2 }, { i: 0 }]);
    expect(await a.history({ since: 2000, until: 3000 })).toStrictEqual([{ i: 2 }, { i: 1 }]);
    expect(await a.history({ since: 5000 })).toStrictEqual([]);
    expect(await a.history({ since: 3000, until: 1000 })).toStrictEqual([]);
  });

  it('the window only sees what history keeps: maxHistory bounds it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const a = new VolatileAgent<number>({ maxHistory: 3 });
    for (let i = 1; i <= 6; i++) {
      vi.setSystemTime(i * 10);
      await a.save(i);
    }
    expect(await a.history({ since: 0 })).toStrictEqual([6, 5, 4]);
    expect(await a.history({ until: 50, limit: 1 })).toStrictEqual([5]);
  });

  it('states in a window are deeply frozen', async () => {
    const a = new VolatileAgent<{ list: number[] }>();
    await a.save({ list: [1] });
    const [s] = await a.history({ since: 0 });
    expect(Object.isFrozen(s) && Object.isFrozen(s!.list)).toBe(true);
  });

  it('CachedAgent over a backend that only takes a limit: the window is ValidationError, a limit still works', async () => {
    const inner = new VolatileAgent<{ n: number }>();
    const plain: DataAgent<{ n: number }> = {
      load: () => inner.load(),
      save: (s) => inner.save(s),
      history: (limit?: number): Promise<Frozen<{ n: number }>[]> => inner.history(limit),
    };
    const cached = new CachedAgent({ cache: new VolatileAgent<{ n: number }>({ maxHistory: 1 }), backend: plain });
    await cached.save({ n: 1 });
    await expect(cached.history({ since: 0 })).rejects.toBeInstanceOf(ValidationError);
    expect(await cached.history(1)).toStrictEqual([{ n: 1 }]);
    await cached.close();
  });
});
