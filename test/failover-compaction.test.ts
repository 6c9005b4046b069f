/**
 * The SqliteQueue of 'primary-then-queue' is compacted: entries every backend applied are
 * deleted, so its storage is bounded by the largest backlog, not by the number of writes ever
 * queued; and a process killed (SIGKILL) in the middle of a compaction loses nothing.
 * Real components: VolatileAgent / FailingAgent backends, SQLite SQLAgents, SQLite queue files.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { fallback } from '../src/compose/fallback-agent.js';
import { SqliteQueue } from '../src/failover/sqlite-queue.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { FailingAgent } from './support/failing-agent.js';

const CHILD = new URL('./failover-compaction-child.ts', import.meta.url).pathname;
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'dgent-failover-compact-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The database file and its WAL, bytes. */
function bytes(path: string): number {
  return [path, `${path}-wal`].filter((p) => existsSync(p)).reduce((n, p) => n + statSync(p).size, 0);
}

function down(a: FailingAgent<number>, v: boolean): void {
  a.failReads = v;
  a.failWrites = v;
}

async function states<S>(a: { history(limit?: number): Promise<readonly S[]> }): Promise<S[]> {
  return [...(await a.history(100_000))].reverse();
}

describe('SqliteQueue compaction', () => {
  it('after each outage is replayed the queue holds no entry: over 10 outages of 200 writes the database file stays at the size of one backlog and the WAL under its checkpoint bound', async () => {
    const d = tmp();
    const path = join(d, 'queue.db');
    const queue = new SqliteQueue({ path });
    const a = new VolatileAgent<number>({ maxHistory: 100_000 });
    const b = new FailingAgent<number>({ maxHistory: 100_000 });
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue, queueName: 'q' });
    const sizes: number[] = [];
    const wal: number[] = [];
    let n = 0;
    for (let round = 1; round <= 10; round++) {
      down(b, true);
      for (let i = 0; i < 200; i++) await agent.save(++n);
      expect(await queue.size('q')).toBe(200);
      down(b, false);
      expect(await agent.drain()).toBe(0);
      expect(await queue.size('q')).toBe(0);
      sizes.push(statSync(path).size);
      wal.push(bytes(path) - statSync(path).size);
    }
    expect(await states(b)).toEqual(await states(a));
    expect((await states(b)).length).toBe(2000);
    // pages freed by compaction are reused: the database file is as large as the largest backlog
    // (28 KiB here), from the second outage on; the WAL is bounded by SQLite's automatic
    // checkpoint (1000 frames of 4 KiB) whatever the number of writes
    expect(Math.max(...sizes.slice(2))).toBeLessThanOrEqual(sizes[1]!);
    expect(Math.max(...wal)).toBeLessThanOrEqual(1001 * (4096 + 24) + 32);
    await agent.close();
    await queue.close();
  });

  it('while every backend is up and in sync a write touches no queue at all (the fast path): 300 saves leave it empty and its file unwritten', async () => {
    const d = tmp();
    const path = join(d, 'queue.db');
    const queue = new SqliteQueue({ path });
    const a = new VolatileAgent<number>({ maxHistory: 1000 });
    const b = new VolatileAgent<number>({ maxHistory: 1000 });
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue, queueName: 'q' });
    await agent.save(0);
    const before = bytes(path);
    for (let i = 1; i <= 300; i++) await agent.save(i);
    expect(await queue.size('q')).toBe(0);
    expect(bytes(path)).toBe(before);
    expect(await states(b)).toEqual(Array.from({ length: 301 }, (_, i) => i));
    await agent.close();
    await queue.close();
  });

  it('while a backend is down each write costs one queue transaction: its entry, with the tokens of the backend that acknowledges it', async () => {
    const d = tmp();
    const calls: string[] = [];
    class CountingQueue extends SqliteQueue {
      override append(...args: Parameters<SqliteQueue['append']>): Promise<number> {
        calls.push('append');
        return super.append(...args);
      }
      override applying(...args: Parameters<SqliteQueue['applying']>): Promise<void> {
        calls.push('applying');
        return super.applying(...args);
      }
    }
    const queue = new CountingQueue({ path: join(d, 'queue.db') });
    const a = new VolatileAgent<number>({ maxHistory: 1000 });
    const b = new FailingAgent<number>({ maxHistory: 1000 });
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue, retryMs: 60_000 });
    await agent.save(0);
    down(b, true);
    for (let i = 1; i <= 50; i++) await agent.save(i);
    expect(calls).toEqual(Array.from({ length: 50 }, () => 'append'));
    down(b, false);
    expect(await agent.drain()).toBe(0);
    expect(await states(b)).toEqual(Array.from({ length: 51 }, (_, i) => i));
    await agent.close();
    await queue.close();
  });

  it('for contrast, an EventLog queue keeps every entry (it cannot delete events)', async () => {
    const d = tmp();
    const log = new SqliteEventLog({ path: join(d, 'queue-log.db') });
    const a = new VolatileAgent<number>();
    const b = new FailingAgent<number>();
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue: log, queueName: 'q' });
    for (let round = 0; round < 3; round++) {
      down(b, true);
      for (let i = 0; i < 50; i++) await agent.save(i);
      down(b, false);
      expect(await agent.drain()).toBe(0);
    }
    expect(await log.revision('failover:q/entries')).toBe(150);
    await agent.close();
    await log.close();
  });

  it('a process killed with SIGKILL in the middle of a compaction loses nothing: a new process finds every entry the compaction had not committed and both backends end with every acknowledged save, in order, once', async () => {
    const d = tmp();
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ dir: d, queued: 120 })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (x: Buffer) => (out += x.toString()));
    child.stderr.on('data', (x: Buffer) => (err += x.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, s) => r(s)));
    expect(err).toBe('');
    expect(signal).toBe('SIGKILL');
    expect(out).toContain('compacting 120');
    expect(out).not.toContain('survived');
    const acked = [...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1]));
    expect(acked).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    // the killed compaction rolled back: every entry is still there
    const queue = new SqliteQueue({ path: join(d, 'queue.db') });
    expect(await queue.size('fallback')).toBe(120);
    const a = new SQLAgent<number>({ path: join(d, 'a.db'), id: 'x' });
    const b = new SQLAgent<number>({ path: join(d, 'b.db'), id: 'x' });
    const agent = fallback([a, b], { writes: 'primary-then-queue', queue });
    expect(await agent.drain()).toBe(0);
    // nothing was skipped for a missing entry
    expect((await agent.status()).backends.map((x) => [x.queued, x.rejected])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(await states(a)).toEqual(acked);
    expect(await states(b)).toEqual(acked);
    expect(await queue.size('fallback')).toBe(0);
    await agent.close();
    await queue.close();
  }, 120_000);
});
