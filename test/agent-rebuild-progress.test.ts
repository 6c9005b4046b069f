import { afterEach, describe, expect, it } from 'vitest';
import { StreamAgent } from '../src/agents/stream-agent.js';
import { MemorySnapshotStore } from '../src/agents/stream/memory-snapshot-store.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { RebuildProgress } from '../src/index.js';
import { VectorAgent } from '../src/vector.js';
import { randomVectors } from './vector-support.js';

/** The contract of every rebuild's onProgress: processed never goes back, the last report is complete. */
function expectProgress(seen: RebuildProgress[], total: number, name: string): void {
  expect(seen.length).toBeGreaterThan(1);
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.processed).toBeGreaterThanOrEqual(seen[i - 1]!.processed);
  // with progressEveryMs 0 every event is reported: processed went 1, 2, ... total
  expect(new Set(seen.map((p) => p.processed)).size).toBe(total);
  for (const p of seen) {
    expect(p.name).toBe(name);
    expect(p.total).toBe(total);
    expect(p.eventsPerSecond).toBeGreaterThanOrEqual(0);
  }
  const last = seen.at(-1)!;
  expect(last.processed).toBe(total);
  expect(last.etaMs).toBe(0);
}

describe('onProgress of agent rebuilds', () => {
  const logs: MemoryEventLog[] = [];
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
  });
  const memLog = (): MemoryEventLog => {
    const l = new MemoryEventLog();
    logs.push(l);
    return l;
  };

  it('StreamAgent.rebuildSnapshots reports every event of a 300-event stream, ending at processed == total', async () => {
    const log = memLog();
    const snapshots = new MemorySnapshotStore();
    const agent = new StreamAgent<{ type: 'Added'; data: { n: number } }, { total: number }>({
      log,
      stream: 'counter',
      initial: { total: 0 },
      fold: (s, e) => ({ total: s.total + e.data.n }),
      snapshots,
      snapshotEvery: 50,
    });
    for (let i = 0; i < 30; i++) await agent.append(Array.from({ length: 10 }, (_, j) => ({ type: 'Added' as const, data: { n: i * 10 + j } })));
    const seen: RebuildProgress[] = [];
    expect(await agent.rebuildSnapshots({ progressEveryMs: 0, onProgress: (p) => seen.push(p) })).toBe(300);
    expectProgress(seen, 300, 'counter');
    expect((await snapshots.list('counter')).length).toBe(6);
    // without onProgress it still works (and the default throttle reports at least the end)
    const ends: RebuildProgress[] = [];
    await agent.rebuildSnapshots({ onProgress: (p) => ends.push(p) });
    expect(ends.at(-1)!.processed).toBe(300);
    expect(await agent.rebuildSnapshots()).toBe(300);
    await agent.close();
  });

  it('VectorAgent.rebuild reports every event of a 250-event stream, ending at processed == total', async () => {
    const log = memLog();
    const agent = new VectorAgent<string>({ dimension: 4, metric: 'l2', engine: 'js', log, stream: 'vecs' });
    const vs = randomVectors(250, 4, 7);
    // one upsert of one item is one event
    for (let i = 0; i < vs.length; i++) await agent.upsert([{ id: `v${i % 200}`, vector: vs[i]! }]);
    const head = await log.revision('vecs');
    expect(head).toBe(250);
    const seen: RebuildProgress[] = [];
    expect(await agent.rebuild({ progressEveryMs: 0, onProgress: (p) => seen.push(p) })).toEqual({ events: 250, items: 200 });
    expectProgress(seen, 250, 'vecs');
    await agent.close();
  });
});
