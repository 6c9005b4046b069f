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
        const agent = new StreamAgent({ log, stream, snapshots, snapshotEvery: (options.every as number | undefined) ?? 100 });
        const bar = out.progress('events', head);
        try {
          const revision = await agent.rebuildSnapshots();
          bar.update(revision, head);
          const stored = (await snapshots.list(stream)).length;
          return { stream, revision, snapshots: stored };
        } finally {
          bar.stop();
          await agent.close();
          await snapshots.close();
        }
      });
      if (out.json) return out.data(result);
      out.line(`rebuilt ${result.snapshots} snapshot(s) of ${out.c.cyan(stream)} up to revision ${result.revision}`);
    });
}
