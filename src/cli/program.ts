/** The `dgent` command tree: each command is one file in commands/, a thin layer over the public API. */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { auditCommand } from './commands/audit.js';
import { exportCommand } from './commands/export.js';
import { getCommand } from './commands/get.js';
import { historyCommand } from './commands/history.js';
import { importCommand } from './commands/import.js';
import { readCommand } from './commands/read.js';
import { rebuildSnapshotsCommand } from './commands/rebuild-snapshots.js';
import { rebuildCommand } from './commands/rebuild.js';
import { stateCommand } from './commands/state.js';
import { statsCommand } from './commands/stats.js';
import { streamsCommand } from './commands/streams.js';
import { tailCommand } from './commands/tail.js';
import { uiCommand } from './commands/ui.js';
import { verifyCommand } from './commands/verify.js';

const EXIT_HELP = `
Backend URLs: memory:, file:./dir, sqlite:./data.db, postgres://user@host/db?schema=s,
  redis://host:6379/0?prefix=p, esdb://host:2113?tls=false. Without one: DGENT_LOG_URL or DGENT_URL.

Exit codes:
  0    success (verify: intact)
  1    unexpected failure
  2    bad usage: unknown command or option, bad argument or URL, missing driver package
  3    not found: stream, key, projection, or the database file of a reading command
  4    backend unavailable (unreachable server, locked file)
  5    damaged data: verify found problems, or a read met corrupt data
  6    conflict: import into a log that already holds other events there
  130  interrupted`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** The program with every command registered (a fresh one per run: tests build their own). */
export function buildProgram(): Command {
  const program = new Command('dgent')
    .description('inspect, verify and move dgent event logs and stores')
    .version(version(), '-v, --version')
    .showSuggestionAfterError(true)
    .addHelpText('after', EXIT_HELP);
  for (const cmd of [
    streamsCommand(),
    readCommand(),
    tailCommand(),
    stateCommand(),
    getCommand(),
    historyCommand(),
    auditCommand(),
    statsCommand(),
    rebuildCommand(),
    rebuildSnapshotsCommand(),
    verifyCommand(),
    exportCommand(),
    importCommand(),
    uiCommand(),
  ]) {
    program.addCommand(cmd);
  }
  return program;
}
