/** What every command has: `--json`, `--url`, `--no-color`, `--no-progress`, and one way to get its Output. */
import { Command } from 'commander';
import { Output, type GlobalOptions } from './output.js';

/** A new command with the options every command takes. */
export function command(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('--json', 'machine-readable JSON on stdout')
    .option('-u, --url <url>', 'backend URL (default: DGENT_LOG_URL / DGENT_URL); memory:, file:./dir, sqlite:./data.db, postgres://…, redis://…, esdb://…')
    .option('--no-color', 'no colours even on a terminal')
    .option('--no-progress', 'no progress bar even on a terminal');
}

/** The options of `cmd` with the program's, and the Output they ask for. */
export function outputOf(cmd: Command): { options: GlobalOptions & Record<string, unknown>; out: Output } {
  const options = cmd.optsWithGlobals<GlobalOptions & Record<string, unknown>>();
  return { options, out: new Output(options) };
}
