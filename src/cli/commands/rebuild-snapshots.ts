/**
 * `dgent rebuild-snapshots <stream> --snapshots sqlite:./snap.db [--every n]`: delete a StreamAgent
 * stream's snapshots and fold the stream again (its $state/$patch events), storing fresh ones.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, requireStream, withLog } from '../backend.js';
import { intOption } from '../output.js';
import { parseBackendUrl } from '../../open/backend-url.js';
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

export function rebuildSnapshotsCommand() {
  return command('rebuild-snapshots', "delete a StreamAgent stream's snapshots and store fresh ones")
    .argument('<stream>', 'stream name')
    .requiredOption('--snapshots <url>', 'where the snapshots are: sqlite:./snapshots.db')
    .option('--every <n>', 'a snapshot every n events (default 100)', intOption('--every', 1))
    .action(async (stream: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const t = parseBackendUrl(options.snapshots, '--snapshots');
      if (t.kind !== 'sqlite') throw new CliError(`--snapshots: only sqlite: snapshot stores can be rebuilt from the CLI, got ${t.kind}:`, EXIT.USAGE);
      const result = await withLog(chosenUrl(undefined, options), async (log) => {
        const head = await requireStream(log, stream);
        const snapshots = new SqliteSnapshotStore({ path: t.path });
        const bar = out.progress('events', head);
        try {
          const every = (options.every as number | undefined) ?? 100;
          return await rebuildStreamSnapshots({ log, stream, snapshots, every, progress: bar, progressEveryMs: 100 });
        } finally {
          bar.stop();
          await snapshots.close();
        }
      });
      if (out.json) return out.data(result);
      out.line(`rebuilt ${result.snapshots} snapshot(s) of ${out.c.cyan(stream)} up to revision ${result.revision}`);
    });
}
