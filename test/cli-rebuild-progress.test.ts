/**
 * `dgent rebuild-snapshots` moves its progress bar as the fold goes (fed by
 * StreamAgent.rebuildSnapshots' onProgress), not only at the start and the end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { StreamAgent } from '../src/agents/stream-agent.js';
import { MemorySnapshotStore } from '../src/agents/stream/memory-snapshot-store.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { rebuildStreamSnapshots } from '../src/cli/commands/rebuild-snapshots.js';

describe('dgent rebuild-snapshots progress', () => {
  const logs: MemoryEventLog[] = [];
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
  });

  it('updates the bar for every event of a 200-event stream, in order, ending at 200/200', async () => {
    const log = new MemoryEventLog();
    logs.push(log);
    const writer = new StreamAgent<never, { n: number }>({ log, stream: 'agent-1', initial: { n: 0 } } as never);
    for (let i = 0; i < 200; i++) await writer.update((d) => void (d.n += 1));
    await writer.close();
    const updates: [number, number | undefined][] = [];
    let stopped = 0;
    const snapshots = new MemorySnapshotStore();
    const result = await rebuildStreamSnapshots({
      log,
      stream: 'agent-1',
      snapshots,
      every: 50,
      progressEveryMs: 0,
      progress: { update: (done, total) => void updates.push([done, total]), stop: () => void stopped++ },
    });
    expect(result).toEqual({ stream: 'agent-1', revision: 200, snapshots: 4 });
    expect(stopped).toBe(0); // the caller owns the bar
    expect(new Set(updates.map(([d]) => d)).size).toBe(200);
    for (let i = 1; i < updates.length; i++) expect(updates[i]![0]).toBeGreaterThanOrEqual(updates[i - 1]![0]);
    expect(updates.every(([, t]) => t === 200)).toBe(true);
    expect(updates.at(-1)).toEqual([200, 200]);
  });
});
