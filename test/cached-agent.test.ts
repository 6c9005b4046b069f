import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BackendUnavailableError, ClosedError, StateNotFoundError, ValidationError } from '../src/core/errors.js';
import { isSubscribable, isVersioned, type DataAgent } from '../src/agents/data-agent.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { CachedAgent, type CacheStrategy } from '../src/compose/cached-agent.js';
import { dataAgentContract } from '../src/testing/index.js';
import { FailingAgent } from './support/failing-agent.js';

const STRATEGIES: CacheStrategy[] = ['write-through', 'write-around', 'write-behind'];
const root = mkdtempSync(join(tmpdir(), 'dgent-cached-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

for (const strategy of STRATEGIES) {
  dataAgentContract(`CachedAgent ${strategy} (VolatileAgent over VolatileAgent)`, () => ({
    open: () => new CachedAgent({ cache: new VolatileAgent({ maxHistory: 1 }), backend: new VolatileAgent(), strategy, flushIntervalMs: 0 }),
  }), { requires: ['update', 'versioned', 'subscribe', 'close'] });

  // write-behind acknowledges before the backend has the state, so two contract clauses cannot
  // hold over a real disk: another instance sees a resolved save, and loadAt({ time }) uses the
  // time of the save (the backend records the flush). Its durability is tested below instead.
  if (strategy === 'write-behind') continue;
  dataAgentContract(
    `CachedAgent ${strategy} verify (VolatileAgent over PersistentAgent)`,
    () => {
      const dir = mkdtempSync(join(root, 'c'));
      return {
        open: () =>
          new CachedAgent({
            cache: new VolatileAgent({ maxHistory: 1 }),
            backend: new PersistentAgent({ path: join(dir, 'agent.json') }),
            strategy,
            flushIntervalMs: 0,
            verify: true,
          }),
        cleanup: () => rmSync(dir, { recursive: true, force: true }),
      };
    },
    { reopen: true, runs: 40, concurrentUpdates: 16, requires: ['update', 'versioned', 'subscribe', 'close'] },
  );
}

function setup<S>(strategy: CacheStrategy, extra: { flushIntervalMs?: number; coalesce?: boolean; onFlushError?: (e: unknown) => void } = {}) {
  const backend = new FailingAgent<S>();
  const cache = new VolatileAgent<S>({ maxHistory: 1 });
  const agent = new CachedAgent<S>({ cache, backend, strategy, flushIntervalMs: extra.flushIntervalMs ?? 60_000, ...extra });
  return { backend, cache, agent };
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('CachedAgent hit and miss', () => {
  it('load after a write-through save is served from the cache without reading the backend', async () => {
    const { backend, agent } = setup<{ n: number }>('write-through');
    await agent.save({ n: 1 });
    backend.failReads = true;
    expect(await agent.load()).toEqual({ n: 1 });
  });

  it('a miss loads the backend once and populates the cache', async () => {
    const { backend, agent } = setup<{ n: number }>('write-through');
    await backend.save({ n: 7 });
    expect(await agent.load()).toEqual({ n: 7 });
    backend.failReads = true;
    expect(await agent.load()).toEqual({ n: 7 });
  });

  it('load before any save throws StateNotFoundError and a later save is then cached', async () => {
    const { backend, agent } = setup<number>('write-through');
    await expect(agent.load()).rejects.toBeInstanceOf(StateNotFoundError);
    await agent.save(3);
    backend.failReads = true;
    expect(await agent.load()).toBe(3);
  });

  it('write-around save invalidates the cache so the next load reads the backend', async () => {
    const { backend, agent } = setup<number>('write-around');
    await agent.save(1);
    backend.failReads = true;
    await expect(agent.load()).rejects.toBeInstanceOf(BackendUnavailableError);
    backend.failReads = false;
    expect(await agent.load()).toBe(1);
    backend.failReads = true;
    expect(await agent.load()).toBe(1);
  });

  it('with verify: true a load sees a write made directly to the backend', async () => {
    const backend = new VolatileAgent<number>();
    const agent = new CachedAgent<number>({ cache: new VolatileAgent(), backend, verify: true });
    await agent.save(1);
    expect(await agent.load()).toBe(1);
    await backend.save(2);
    expect(await agent.load()).toBe(2);
  });

  it('without verify the cache keeps serving its state after a direct backend write (single-writer assumption)', async () => {
    const backend = new VolatileAgent<number>();
    const agent = new CachedAgent<number>({ cache: new VolatileAgent(), backend });
    await agent.save(1);
    await backend.save(2);
    expect(await agent.load()).toBe(1);
  });
});

describe('CachedAgent failure injection: the cache never claims unpersisted state', () => {
  for (const strategy of ['write-through', 'write-around'] as const) {
    it(`${strategy}: a failed backend save rejects with the backend error and load returns the persisted state`, async () => {
      const { backend, agent } = setup<{ v: number }>(strategy);
      await agent.save({ v: 1 });
      backend.failWrites = true;
      await expect(agent.save({ v: 2 })).rejects.toBeInstanceOf(BackendUnavailableError);
      // with the backend unreadable too, the cache must not answer with { v: 2 }
      backend.failReads = true;
      const during = await agent.load().catch((e: unknown) => e);
      expect(during).not.toEqual({ v: 2 });
      backend.failReads = false;
      expect(await agent.load()).toEqual({ v: 1 });
    });

    it(`${strategy}: a failed update rejects and the cache still reports the persisted state`, async () => {
      const { backend, agent } = setup<{ n: number }>(strategy);
      await agent.save({ n: 1 });
      backend.failWrites = true;
      await expect(agent.update((d) => void (d.n += 1))).rejects.toBeInstanceOf(BackendUnavailableError);
      backend.failWrites = false;
      expect(await agent.load()).toEqual({ n: 1 });
    });
  }

  for (const strategy of STRATEGIES) {
    it(`${strategy}: after an ambiguous failure (the backend stored the state but reported an error) load returns what the backend holds`, async () => {
      const { backend, agent } = setup<number>(strategy);
      await agent.save(1);
      await agent.flush();
      expect(await agent.load()).toBe(1);
      backend.failAfterWrites = true;
      const r = await Promise.resolve(agent.save(2)).then(() => agent.flush()).catch((e: unknown) => e);
      expect(r).toBeInstanceOf(BackendUnavailableError);
      backend.failAfterWrites = false;
      expect(await agent.load()).toBe(await backend.load());
    });
  }

  it('write-behind: save resolves before the backend is written, and load meanwhile returns the pending state', async () => {
    const { backend, agent } = setup<number>('write-behind');
    await agent.save(1);
    expect(backend.writeAttempts).toBe(0);
    expect(agent.pending).toBe(1);
    expect(await agent.load()).toBe(1);
    await agent.flush();
    expect(agent.pending).toBe(0);
    expect(await backend.load()).toBe(1);
  });

  it('write-behind: a failed flush drops the pending states, load returns the durable state and flush() throws the error', async () => {
    const { backend, agent } = setup<number>('write-behind');
    await agent.save(1);
    await agent.flush();
    await agent.save(2);
    await agent.save(3);
    backend.failWrites = true;
    await expect(agent.flush()).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(agent.pending).toBe(0);
    backend.failWrites = false;
    expect(await agent.load()).toBe(1);
    expect(await agent.history()).toEqual([1]);
    await agent.flush(); // the error was reported once
  });

  it('write-behind: a failed background flush is reported to onFlushError and thrown by the next flush()', async () => {
    const seen: unknown[] = [];
    const { backend, agent } = setup<number>('write-behind', { flushIntervalMs: 5, onFlushError: (e) => seen.push(e) });
    await agent.save(1);
    await agent.flush();
    backend.failWrites = true;
    await agent.save(2);
    await until(() => seen.length === 1);
    expect(seen[0]).toBeInstanceOf(BackendUnavailableError);
    backend.failWrites = false;
    expect(await agent.load()).toBe(1);
    await expect(agent.flush()).rejects.toBeInstanceOf(BackendUnavailableError);
    await agent.flush();
  });

  it('write-behind: close() flushes, closes both agents and throws a flush failure', async () => {
    const { backend, agent } = setup<number>('write-behind');
    await agent.save(1);
    backend.failWrites = true;
    await expect(agent.close()).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(agent.load()).rejects.toBeInstanceOf(ClosedError);
    await expect(backend.version()).rejects.toBeInstanceOf(ClosedError);
  });

  it('a failing cache write is reported, the save still reaches the backend and loads come from the backend', async () => {
    for (const strategy of STRATEGIES) {
      const cache = new FailingAgent<number>();
      const backend = new VolatileAgent<number>();
      const errors: unknown[] = [];
      const agent = new CachedAgent<number>({ cache, backend, strategy, flushIntervalMs: 60_000, onCacheError: (e) => errors.push(e) });
      await agent.save(1);
      cache.failWrites = true;
      await agent.save(2);
      expect(await backend.load()).toBe(2);
      expect(await agent.load()).toBe(2);
      if (strategy !== 'write-around') expect(errors.length).toBeGreaterThan(0);
    }
  });

  for (const strategy of STRATEGIES) {
    it(`${strategy}: under random saves, flushes and injected failures, load returns only durable or acknowledged-pending states`, async () => {
      // 'before': nothing stored; 'after': stored, then an error reported (ambiguous)
      const fail = fc.constantFrom('none' as const, 'before' as const, 'after' as const);
      const op = fc.oneof(
        fc.record({ kind: fc.constant('save' as const), v: fc.integer(), fail: fail }),
        fc.record({ kind: fc.constant('update' as const), fail: fail }),
        fc.record({ kind: fc.constant('flush' as const), fail: fail }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const { backend, agent } = setup<number>(strategy);
          await backend.save(0);
          let acknowledged: number | undefined;
          for (const o of ops) {
            backend.failWrites = o.fail === 'before';
            backend.failAfterWrites = o.fail === 'after';
            try {
              if (o.kind === 'save') {
                await agent.save(o.v);
                acknowledged = o.v;
              } else if (o.kind === 'update') acknowledged = await agent.update((n) => n + 1);
              else await agent.flush();
            } catch (e) {
              expect(e).toBeInstanceOf(BackendUnavailableError);
            }
            backend.failWrites = false;
            backend.failAfterWrites = false;
            const durable = await backend.load();
            const seen = await agent.load();
            if (agent.pending > 0) expect(seen).toBe(acknowledged);
            else expect(seen).toBe(durable);
          }
          await agent.close().catch(() => undefined);
        }),
        { numRuns: 100 },
      );
    });
  }
});

describe('CachedAgent write-behind', () => {
  it('flush writes every pending state in order, so the backend history is complete', async () => {
    const { backend, agent } = setup<number>('write-behind');
    for (let i = 1; i <= 5; i++) await agent.save(i);
    await agent.flush();
    expect(await backend.history()).toEqual([5, 4, 3, 2, 1]);
  });

  it('coalesce: true writes only the latest pending state at a flush', async () => {
    const { backend, agent } = setup<number>('write-behind', { coalesce: true });
    for (let i = 1; i <= 5; i++) await agent.save(i);
    await agent.flush();
    expect(await backend.history()).toEqual([5]);
    expect(backend.writeAttempts).toBe(1);
  });

  it('the interval timer flushes without an explicit flush()', async () => {
    const { backend, agent } = setup<number>('write-behind', { flushIntervalMs: 5 });
    await agent.save(1);
    await until(() => agent.pending === 0);
    expect(await backend.load()).toBe(1);
  });

  it('update flushes pending saves first, then increments durably: 40 concurrent increments end at 40', async () => {
    const { backend, agent } = setup<{ n: number }>('write-behind');
    await agent.save({ n: 0 });
    await Promise.all(Array.from({ length: 40 }, () => agent.update((d) => void (d.n += 1))));
    expect(agent.pending).toBe(0);
    expect(await backend.load()).toEqual({ n: 40 });
    expect(await agent.load()).toEqual({ n: 40 });
  });

  it('history, version and loadAt report only durable states (they flush first)', async () => {
    const { backend, agent } = setup<number>('write-behind');
    await agent.save(1);
    await agent.save(2);
    expect(isVersioned(agent)).toBe(true);
    expect(await agent.version!()).toBe(2);
    expect(await agent.loadAt!({ version: 1 })).toBe(1);
    expect(await backend.history()).toEqual([2, 1]);
  });

  it('a write-behind save survives close and re-open over a PersistentAgent', async () => {
    const path = join(mkdtempSync(join(root, 'wb')), 'agent.json');
    const open = () => new CachedAgent<{ turns: string[] }>({ cache: new VolatileAgent(), backend: new PersistentAgent({ path }), strategy: 'write-behind' });
    const a = open();
    await a.save({ turns: ['a'] });
    await a.save({ turns: ['a', 'b'] });
    await a.close();
    const b = open();
    expect(await b.load()).toEqual({ turns: ['a', 'b'] });
    expect(await b.history()).toEqual([{ turns: ['a', 'b'] }, { turns: ['a'] }]);
    await b.close();
  });

  it('another instance over the same PersistentAgent file sees a write-behind save only once it is flushed', async () => {
    const path = join(mkdtempSync(join(root, 'wb')), 'agent.json');
    const writer = new CachedAgent<number>({ cache: new VolatileAgent(), backend: new PersistentAgent({ path }), strategy: 'write-behind' });
    const reader = new CachedAgent<number>({ cache: new VolatileAgent(), backend: new PersistentAgent({ path }), verify: true });
    await writer.save(1);
    await expect(reader.load()).rejects.toBeInstanceOf(StateNotFoundError);
    await writer.flush();
    expect(await reader.load()).toBe(1);
    await writer.close();
    await reader.close();
  });
});

describe('CachedAgent options and capabilities', () => {
  it('an unknown strategy, a negative flushIntervalMs or verify over an unversioned backend throws ValidationError', () => {
    const cache = new VolatileAgent();
    const backend = new VolatileAgent();
    expect(() => new CachedAgent({ cache, backend, strategy: 'write-sideways' as CacheStrategy })).toThrow(ValidationError);
    expect(() => new CachedAgent({ cache, backend, flushIntervalMs: -1 })).toThrow(ValidationError);
    expect(() => new CachedAgent({ cache, backend: plainAgent(), verify: true })).toThrow(ValidationError);
  });

  it('version, loadAt and subscribe are offered only when the backend has them', async () => {
    const plain = new CachedAgent({ cache: new VolatileAgent(), backend: plainAgent() });
    expect(isVersioned(plain)).toBe(false);
    expect(isSubscribable(plain)).toBe(false);
    const rich = new CachedAgent<number>({ cache: new VolatileAgent(), backend: new VolatileAgent() });
    expect(isVersioned(rich)).toBe(true);
    expect(isSubscribable(rich)).toBe(true);
    const seen: number[] = [];
    rich.subscribe!((s) => seen.push(s));
    await rich.save(4);
    expect(seen).toEqual([4]);
  });

  it('update over a backend without update() is serialised in process: 30 concurrent increments end at 30', async () => {
    const agent = new CachedAgent<{ n: number }>({ cache: new VolatileAgent(), backend: plainAgent() });
    await agent.save({ n: 0 });
    await Promise.all(Array.from({ length: 30 }, () => agent.update((d) => void (d.n += 1))));
    expect(await agent.load()).toEqual({ n: 30 });
  });
});

/** A minimal DataAgent with no optional capability, over a VolatileAgent. */
function plainAgent<S>(): DataAgent<S> {
  const inner = new VolatileAgent<S>();
  return { load: () => inner.load(), save: (s) => inner.save(s), history: (n) => inner.history(n) };
}
