/**
 * fallback() with writes: 'primary-then-queue' over real agents (VolatileAgent, with
 * BackendUnavailableError injected by FailingAgent) and a real SqliteEventLog as the queue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackendUnavailableError, ConcurrencyError, ValidationError } from '../src/core/errors.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { EntropyConstrainedAgent } from '../src/compose/entropy-constrained-agent.js';
import { fallback, FallbackAgent } from '../src/compose/fallback-agent.js';
import { SqliteQueue } from '../src/failover/sqlite-queue.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';
import { FailingAgent } from './support/failing-agent.js';

const dirs: string[] = [];
function queuePath(): string {
  const d = mkdtempSync(join(tmpdir(), 'dgent-failover-'));
  dirs.push(d);
  return join(d, 'queue.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function down(a: { failReads: boolean; failWrites: boolean }, v = true): void {
  a.failReads = v;
  a.failWrites = v;
}

/** States oldest first. */
async function states<S>(a: { history(limit?: number): Promise<readonly S[]> }): Promise<S[]> {
  return [...(await a.history(10_000))].reverse();
}

describe("fallback writes: 'primary-then-queue'", () => {
  it('a save while the secondary is down resolves, is queued for it (status: queued 1) and replayed in order once it is back', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new FailingAgent<number>({ maxHistory: 1000 });
    const b = new FailingAgent<number>({ maxHistory: 1000 });
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue });
    await agent.save(1);
    await agent.drain();
    down(b);
    await agent.save(2);
    await agent.save(3);
    expect(await agent.drain()).toBe(2);
    const st = await agent.status();
    expect(st.queueDepth).toBe(2);
    expect(st.backends.map((x) => [x.name, x.available, x.queued, x.inSync])).toEqual([
      ['0', true, 0, true],
      ['1', false, 2, false],
    ]);
    down(b, false);
    expect(await agent.drain()).toBe(0);
    expect(await states(a)).toEqual([1, 2, 3]);
    expect(await states(b)).toEqual([1, 2, 3]);
    expect((await agent.status()).healthy).toBe(true);
    await agent.close();
    await queue.close();
  });

  it('while the primary is down writes go to the secondary (the primary, known down, is not tried again) and reads come from it; the primary catches up in order when back', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new FailingAgent<number>({ maxHistory: 1000 });
    const b = new VolatileAgent<number>({ maxHistory: 1000 });
    const skipped: number[] = [];
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue, onFailover: (i) => skipped.push(i) });
    await agent.save(1);
    down(a);
    await agent.save(2);
    expect(skipped).toEqual([0]);
    await agent.save(3); // a is known down: b first, a left to the replay
    expect(skipped).toEqual([0]);
    expect(await agent.load()).toBe(3);
    down(a, false);
    // a is behind: reads come from b until a caught up
    expect(await agent.load()).toBe(3);
    expect(await agent.drain()).toBe(0); // what the retry every retryMs does
    expect(await states(a)).toEqual([1, 2, 3]);
    await agent.save(4); // the primary again
    expect(await states(a)).toEqual([1, 2, 3, 4]);
    await agent.drain();
    expect(await states(b)).toEqual([1, 2, 3, 4]);
    await agent.close();
    await queue.close();
  });

  it('when no backend is available the save throws BackendUnavailableError and that write never appears anywhere', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new FailingAgent<number>();
    const b = new FailingAgent<number>();
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue });
    await agent.save(1);
    down(a);
    down(b);
    await expect(agent.save(2)).rejects.toBeInstanceOf(BackendUnavailableError);
    down(a, false);
    down(b, false);
    await agent.save(3);
    expect(await agent.drain()).toBe(0);
    expect(await states(a)).toEqual([1, 3]);
    expect(await states(b)).toEqual([1, 3]);
    await agent.close();
    await queue.close();
  });

  it('an error other than BackendUnavailableError does not fail over: a stale expectedVersion throws ConcurrencyError and is not replayed', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new VolatileAgent<number>();
    const b = new VolatileAgent<number>();
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue });
    await agent.save(1, { expectedVersion: 0 });
    await expect(agent.save(2, { expectedVersion: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await agent.drain()).toBe(0);
    expect(await states(a)).toEqual([1]);
    expect(await states(b)).toEqual([1]);
    await agent.close();
    await queue.close();
  });

  it('a write that failed mid-way (stored, then the connection dropped) lands once on that backend, never twice', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new FailingAgent<number>();
    const b = new FailingAgent<number>();
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue });
    await agent.save(1);
    await agent.drain();
    b.failAfterWrites = true; // b stores the write but reports it unavailable
    await agent.save(2);
    expect((await agent.status()).backends[1]).toMatchObject({ queued: 1 }); // in doubt on b
    b.failAfterWrites = false;
    expect(await agent.drain()).toBe(0);
    expect(await states(b)).toEqual([1, 2]);
    // the re-apply saw from its token that the write had landed: skipped, not rejected
    expect((await agent.status()).backends[1]).toMatchObject({ queued: 0, rejected: 0 });
    await agent.close();
    await queue.close();
  });

  it('a queued write a backend rejects on replay (StateTooLargeError) is skipped there and counted in status(); later writes still replay', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new VolatileAgent<string>({ maxHistory: 100 });
    const small = new VolatileAgent<string>({ maxHistory: 100 });
    const b = new EntropyConstrainedAgent({ backend: small, budget: 1, maxSizeBytes: 64, onExceed: 'reject' });
    const agent = fallback<string>([a, b], { writes: 'primary-then-queue', queue });
    await agent.save('x');
    await agent.save('y'.repeat(500));
    await agent.save('z');
    expect(await agent.drain()).toBe(0);
    expect(await states(a)).toEqual(['x', 'y'.repeat(500), 'z']);
    expect(await states(small)).toEqual(['x', 'z']);
    const st = (await agent.status()).backends[1]!;
    expect(st.rejected).toBe(1);
    expect(st.lastError).toMatch(/limit|large/i);
    await agent.close();
    await queue.close();
  });

  it('the queue survives a new process: a fallback on the same queue log replays what the first one queued, without duplicates', async () => {
    const path = queuePath();
    const a = new VolatileAgent<number>({ maxHistory: 100 });
    const b = new FailingAgent<number>({ maxHistory: 100 });
    let queue = new SqliteEventLog({ path });
    const first = fallback([a, b], { writes: 'primary-then-queue', queue });
    await first.save(1);
    await first.drain();
    down(b);
    await first.save(2);
    await first.save(3);
    await queue.close(); // the process ends here (agents stay: they stand for servers)
    down(b, false);
    queue = new SqliteEventLog({ path });
    const second = fallback([a, b], { writes: 'primary-then-queue', queue });
    // the first write was in doubt on b (its apply failed): the new process settled it at start-up
    expect((await second.status()).queueDepth).toBe(1);
    expect(await second.drain()).toBe(0);
    expect(await states(b)).toEqual([1, 2, 3]);
    await queue.close();
  });

  it('backends given with priorities are tried lowest first and named in status()', async () => {
    const queue = new SqliteEventLog({ path: queuePath() });
    const a = new VolatileAgent<number>();
    const b = new FailingAgent<number>();
    const agent = fallback(
      [
        { backend: a, priority: 2, name: 'local' },
        { backend: b, priority: 1, name: 'remote' },
      ],
      { writes: 'primary-then-queue', queue },
    );
    await agent.save(1);
    expect(b.writeAttempts).toBe(1);
    expect((await agent.status()).backends.map((x) => x.name)).toEqual(['remote', 'local']);
    await agent.close();
    await queue.close();
  });

  it("configuration mistakes are ValidationError: 'primary-then-queue' without a queue, a queue with another policy, duplicate names", () => {
    expect(() => fallback([new VolatileAgent()], { writes: 'primary-then-queue' })).toThrow(ValidationError);
    expect(() => fallback([new VolatileAgent()], { writes: 'all', queue: new SqliteEventLog({ path: ':memory:' }) })).toThrow(ValidationError);
    expect(() =>
      fallback([
        { backend: new VolatileAgent(), name: 'x' },
        { backend: new VolatileAgent(), name: 'x' },
      ]),
    ).toThrow(ValidationError);
  });
});

type Step = { kind: 'save' } | { kind: 'down'; i: number; ambiguous: boolean } | { kind: 'up'; i: number } | { kind: 'drain' } | { kind: 'restart' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Step>({ kind: 'save' }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('down' as const), i: fc.integer({ min: 0, max: 2 }), ambiguous: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('up' as const), i: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'drain' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'restart' }) },
);

describe.each([
  ['a SqliteEventLog', (path: string): EventLog | SqliteQueue => new SqliteEventLog({ path })],
  ['a SqliteQueue (compacted)', (path: string): EventLog | SqliteQueue => new SqliteQueue({ path })],
] as const)("fallback 'primary-then-queue' property, the queue in %s", (_name, open) => {
  it('random saves while backends go down and up and the process restarts: nothing acknowledged is lost, every backend ends with the same states in write order, no duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60 }), async (steps) => {
        const path = queuePath();
        let queue = open(path);
        const bs = [0, 1, 2].map(() => new FailingAgent<number>({ maxHistory: 10_000 }));
        // the agents stand for servers: a restart is a new fallback on the same queue file
        const make = () => new FallbackAgent(bs, { writes: 'primary-then-queue', queue, retryMs: 5 });
        let agent = make();
        const acked: number[] = [];
        let n = 0;
        for (const s of steps) {
          if (s.kind === 'save') {
            const v = ++n;
            try {
              await agent.save(v);
              acked.push(v);
            } catch (e) {
              if (!(e instanceof BackendUnavailableError)) throw e;
            }
          } else if (s.kind === 'down') {
            if (s.ambiguous) bs[s.i]!.failAfterWrites = true;
            else down(bs[s.i]!);
          } else if (s.kind === 'up') {
            down(bs[s.i]!, false);
            bs[s.i]!.failAfterWrites = false;
          } else if (s.kind === 'drain') await agent.drain();
          else {
            await stopWithoutClosingAgents(agent);
            await queue.close();
            queue = open(path);
            agent = make();
          }
        }
        for (const b of bs) {
          down(b, false);
          b.failAfterWrites = false;
        }
        expect(await agent.drain()).toBe(0);
        const ends = await Promise.all(bs.map((b) => states(b).catch(() => [] as number[])));
        // every backend holds the same states, in write order, each once
        expect(ends[1]).toEqual(ends[0]);
        expect(ends[2]).toEqual(ends[0]);
        const end = ends[0]!;
        expect(new Set(end).size).toBe(end.length);
        expect([...end].sort((x, y) => x - y)).toEqual(end);
        // every acknowledged state is there (a failed one may be there only if it failed mid-way)
        for (const v of acked) expect(end).toContain(v);
        // nothing was skipped for a missing entry
        expect((await agent.status()).backends.map((b) => b.rejected)).toEqual([0, 0, 0]);
        if (queue instanceof SqliteQueue) expect(await queue.size('fallback')).toBe(0); // compacted once all caught up
        await stopWithoutClosingAgents(agent);
        await queue.close();
      }),
      { numRuns: 60 },
    );
  }, 300_000);
});

/** End a fallback's queue work without closing its agents (they stand for servers that outlive the process). */
async function stopWithoutClosingAgents(agent: FallbackAgent<number>): Promise<void> {
  await (agent as unknown as { queue: { close(): Promise<void> } }).queue.close();
}

describe.each([
  ['SqliteEventLog', (path: string): EventLog => new SqliteEventLog({ path })],
  ['FileEventLog', (path: string): EventLog => new FileEventLog({ dir: `${path}.d` })],
] as const)('the queue kept in a %s', (_name, open) => {
  it('holds the writes for a backend that is down across a close and reopen, and replays them in order once', async () => {
    const path = queuePath();
    const a = new VolatileAgent<number>({ maxHistory: 100 });
    const b = new FailingAgent<number>({ maxHistory: 100 });
    let queue = open(path);
    const first = fallback([a, b], { writes: 'primary-then-queue', queue });
    await first.save(1);
    expect(await first.drain()).toBe(0);
    down(b);
    for (let i = 2; i <= 20; i++) await first.save(i);
    expect((await first.status()).backends[1]).toMatchObject({ available: false, queued: 19, inSync: false });
    await queue.close();
    down(b, false);
    queue = open(path);
    const second = fallback([a, b], { writes: 'primary-then-queue', queue });
    expect(await second.drain()).toBe(0);
    const all = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(await states(a)).toEqual(all);
    expect(await states(b)).toEqual(all);
    await queue.close();
  });
});
