/**
 * StreamAgent on a long stream (BENCH_STREAM_EVENTS, default 100 000 events) in a SqliteEventLog,
 * with snapshots every 100 events in a SqliteSnapshotStore (a side table of the same file):
 * - load(): full replay vs latest snapshot plus tail
 * - loadAt in the middle of the stream: full replay of the prefix vs nearest snapshot plus tail
 * Target: loadAt with snapshots >= 20x faster than a full replay of the stream.
 * Every measured call uses a fresh agent, so no in-memory cache helps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StreamAgent, type Fold } from '../src/agents/stream-agent.js';
import { SqliteSnapshotStore } from '../src/agents/stream/sqlite-snapshot-store.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';

type Ev = { type: 'Deposited'; data: { amount: number; memo: string } } | { type: 'Withdrawn'; data: { amount: number } };
interface Account {
  balance: number;
  count: number;
  recent: string[];
}
const initial: Account = { balance: 0, count: 0, recent: [] };
const fold: Fold<Ev, Account> = (s, e) =>
  e.type === 'Deposited'
    ? { balance: s.balance + e.data.amount, count: s.count + 1, recent: [...s.recent.slice(-9), e.data.memo] }
    : { ...s, balance: s.balance - e.data.amount, count: s.count + 1 };

export async function main(): Promise<void> {
  const n = Number(process.env.BENCH_STREAM_EVENTS ?? 100_000);
  const dir = mkdtempSync(join(tmpdir(), 'dgent-bench-stream-'));
  // the snapshot store lives in a side table of the log's own SQLite file
  const log = new SqliteEventLog({ path: join(dir, 'events.db') });
  const snapshots = new SqliteSnapshotStore({ path: join(dir, 'events.db') });
  const backend = 'SqliteEventLog';
  try {
    const stream = 'account-1';
    const batch = 1000;
    for (let i = 0; i < n; i += batch) {
      const events: Ev[] = Array.from({ length: Math.min(batch, n - i) }, (_, k) =>
        (i + k) % 5 === 4 ? { type: 'Withdrawn', data: { amount: 3 } } : { type: 'Deposited', data: { amount: 10, memo: `deposit ${i + k}` } },
      );
      await log.append(stream, events);
    }
    const plain = () => new StreamAgent<Ev, Account>({ log, stream, initial, fold });
    const snapped = () => new StreamAgent<Ev, Account>({ log, stream, initial, fold, snapshots, snapshotEvery: 100 });
    const builder = snapped();
    await builder.rebuildSnapshots();
    const mid = Math.floor(n / 2) + 17; // not on a snapshot boundary: the tail is folded too

    // the answers must agree before anything is timed
    const [a, b, c, d] = [await plain().load(), await snapped().load(), await plain().loadAt({ revision: mid }), await snapped().loadAt({ revision: mid })];
    if (JSON.stringify(a) !== JSON.stringify(b) || JSON.stringify(c) !== JSON.stringify(d)) throw new Error('snapshot and replay results differ');

    const label = `${backend}, ${n.toLocaleString('en-US')} events`;
    const cases: CaseResult[] = [
      await measure(`load, full replay (${label})`, 1, async () => void (await plain().load())),
      await measure(`load, snapshot + tail (${label})`, 1, async () => void (await snapped().load())),
      await measure(`loadAt mid, replay of the prefix (${label})`, 1, async () => void (await plain().loadAt({ revision: mid }))),
      await measure(`loadAt mid, snapshot + tail (${label})`, 1, async () => void (await snapped().loadAt({ revision: mid }))),
    ];
    const [fullLoad, snapLoad, replayAt, snapAt] = cases as [CaseResult, CaseResult, CaseResult, CaseResult];
    const comparisons: Comparison[] = [
      { label: 'loadAt mid with snapshots vs full replay', subject: snapAt, baseline: fullLoad, target: 20 },
      { label: 'loadAt mid with snapshots vs replay of the prefix', subject: snapAt, baseline: replayAt },
      { label: 'load with snapshots vs full replay', subject: snapLoad, baseline: fullLoad, target: 20 },
    ];
    report('stream-agent', cases, comparisons);
  } finally {
    await log.close();
    await snapshots.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
