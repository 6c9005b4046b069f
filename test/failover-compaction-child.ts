/**
 * Child process of test/failover-compaction.test.ts: a fallback ('primary-then-queue') over two
 * SQLite SQLAgents, the second one down (BackendUnavailableError) for the first `queued` saves,
 * the queue in a SqliteQueue whose compaction kills this process (SIGKILL) inside its transaction,
 * after the delete and before the commit. Prints `ack <n>` after each resolved save.
 * Usage: node --import tsx test/failover-compaction-child.ts '<json args>'
 */
import { BackendUnavailableError } from '../src/core/errors.js';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { fallback } from '../src/compose/fallback-agent.js';
import { SqliteQueue } from '../src/failover/sqlite-queue.js';
import type { SqliteDatabase } from '../src/streams/sqlite/driver-types.js';

interface Args {
  dir: string;
  queued: number;
}

const a = JSON.parse(process.argv[2]!) as Args;

/** Dies in the middle of its first compaction. */
class DyingQueue extends SqliteQueue {
  protected override dropEntries(db: SqliteDatabase, queue: string, upTo: number): void {
    super.dropEntries(db, queue, upTo);
    process.stdout.write(`compacting ${upTo}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

let down = true;
const primary = new SQLAgent<number>({ path: `${a.dir}/a.db`, id: 'x' });
const inner = new SQLAgent<number>({ path: `${a.dir}/b.db`, id: 'x' });
// the secondary, unreachable while `down`
const secondary = new Proxy(inner, {
  get(t, p, r) {
    const v = Reflect.get(t, p, r) as unknown;
    if (typeof v !== 'function') return v;
    return (...args: unknown[]) => {
      if (down && p !== 'close') return Promise.reject(new BackendUnavailableError('test', 'secondary down'));
      return (v as (...x: unknown[]) => unknown).apply(t, args);
    };
  },
});
const queue = new DyingQueue({ path: `${a.dir}/queue.db` });
const agent = fallback<number>([primary, secondary], { writes: 'primary-then-queue', queue, retryMs: 60_000 });
for (let n = 1; n <= a.queued; n++) {
  await agent.save(n);
  process.stdout.write(`ack ${n}\n`);
}
down = false;
await agent.drain(); // replays every entry to the secondary, then compacts: killed there
process.stdout.write('survived\n');
