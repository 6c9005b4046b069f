#!/usr/bin/env node
/**
 * The `dgent` command. Every failure is one line on stderr and a documented exit code (see
 * exit-codes.ts and `dgent --help`), never a stack trace; DGENT_DEBUG=1 prints the stack too.
 */
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';
import { CliError, describeError, EXIT, exitCodeOf } from './exit-codes.js';

function fail(message: string, code: number): void {
  process.stderr.write(`dgent: ${message}\n`);
  process.exitCode = code;
}

// A reader that went away (`dgent export … | head`) is not an error of ours.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const program = buildProgram();
for (const cmd of [program, ...program.commands]) {
  cmd.exitOverride();
  cmd.configureOutput({
    // commander's own messages ("error: unknown command 'x'") are already one line
    outputError: (text, write) => write(text.trim().split('\n')[0]!.replace(/^error: /, 'dgent: ') + '\n'),
  });
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) {
    // help and version end with code 0; everything else commander rejects is bad usage
    process.exitCode = e.exitCode === 0 ? 0 : EXIT.USAGE;
  } else {
    if (process.env.DGENT_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? String(e)}\n`);
    fail(describeError(e), e instanceof CliError ? e.exitCode : exitCodeOf(e));
  }
}
