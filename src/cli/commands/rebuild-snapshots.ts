/**
 * `dgent rebuild-snapshots <stream> --snapshots <url> [--every n]`: delete a StreamAgent stream's
 * snapshots and fold the stream again (its $state/$patch events), storing fresh ones. The
 * snapshot store is named by a backend URL: `sqlite:./snap.db` (SqliteSnapshotStore),
 * `postgres://…[?schema=]` (PostgresSnapshotStore) or `redis://…[?prefix=]` (RedisSnapshotStore).
 * `memory:` is a usage error: a MemorySnapshotStore lives inside one process, so there is nothing
 * a command could rebuild; `file:` and `esdb:` name no snapshot store.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, requireStream, withLog } from '../backend.js';
import { intOption, plural } from '../output.js';
import { parseBackendUrl, type BackendTarget } from '../../open/backend-url.js';
import { CliError, EXIT } from '../exit-codes.js';
import { StreamAgent } from '../../agents/stream-agent.js';
import { SqliteSnapshotStore } from '../../agents/stream/sqlite-snapshot-store.js';
import type { SnapshotStore } from '../../agents/stream/snapshot-store.js';
import type { EventLog } from '../../streams/event-log.js';
import type { Progress } from '../output.js';

/** What {@link rebuildStreamSnapshots} needs. */
export interface RebuildSnapshotsJob {
  log: EventLog;
  stream: string;
  snapshots: SnapshotStore;
  /** a snapshot every n events */
  every: number;
  /** the bar moved by StreamAgent.rebuildSnapshots' onProgress as the fold goes */
  progress: Progress;
  /** ms between progress updates */
  progressEveryMs: number;
}

/** Rebuild one stream's snapshots, moving the progress bar as events are folded. */
export async function rebuildStreamSnapshots(job: RebuildSnapshotsJob): Promise<{ stream: string; revision: number; snapshots: number }> {
  const { log, stream, snapshots, progress } = job;
  const agent = new StreamAgent({ log, stream, snapshots, snapshotEvery: job.every });
  try {
    const revision = await agent.rebuildSnapshots({ progressEveryMs: job.progressEveryMs, onProgress: (p) => progress.update(p.processed, p.total) });
    return { stream, revision, snapshots: (await snapshots.list(stream)).length };
  } finally {
    await agent.close();
  }
}

/** The snapshot store a `--snapshots` URL names (drivers loaded only for their URLs). */
export async function openSnapshotStore(t: BackendTarget): Promise<SnapshotStore> {
  switch (t.kind) {
    case 'sqlite':
      return new SqliteSnapshotStore({ path: t.path });
    case 'postgres': {
      const { PostgresSnapshotStore } = await import('../../postgres.js');
      return new PostgresSnapshotStore({ connectionString: t.connectionString, schema: t.schema });
    }
    case 'redis': {
      const { RedisSnapshotStore } = await import('../../redis.js');
      return new RedisSnapshotStore({ url: t.redisUrl, prefix: t.prefix });
    }
    default:
      throw new CliError(`--snapshots: ${t.kind}: names no snapshot store; use sqlite:, postgres:// or redis://`, EXIT.USAGE);
  }
}

export function rebuildSnapshotsCommand() {
  return command('rebuild-snapshots', "delete a StreamAgent stream's snapshots and store fresh ones")
    .argument('<stream>', 'stream name')
    .requiredOption('--snapshots <url>', 'where the snapshots are: sqlite:./snapshots.db, postgres://… or redis://…')
    .option('--every <n>', 'a snapshot every n events (default 100)', intOption('--every', 1))
    .action(async (stream: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const t = parseBackendUrl(options.snapshots, '--snapshots');
      if (t.kind === 'memory') throw new CliError('--snapshots: a memory: snapshot store lives inside one process; nothing to rebuild from the command line (use sqlite:, postgres:// or redis://)', EXIT.USAGE);
      if (t.kind === 'file' || t.kind === 'esdb') throw new CliError(`--snapshots: ${t.kind}: names no snapshot store; use sqlite:, postgres:// or redis://`, EXIT.USAGE);
      const every = (options.every as number | undefined) ?? 100;
      const result = await withLog(chosenUrl(undefined, options), async (log) => {
        const head = await requireStream(log, stream);
        const snapshots = await openSnapshotStore(t);
        const bar = out.progress('events', head);
        try {
          return await rebuildStreamSnapshots({ log, stream, snapshots, every, progress: bar, progressEveryMs: 100 });
        } finally {
          bar.stop();
          await snapshots.close();
        }
      });
      if (out.json) return out.data(result);
      const none = result.snapshots === 0 ? ` (one every ${every} events: --every to change it)` : '';
      out.line(`rebuilt ${plural(result.snapshots, 'snapshot')} of ${out.c.cyan(stream)} up to revision ${result.revision}${none}`);
    });
}
