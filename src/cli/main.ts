#!/usr/bin/env node
/**
 * The `dgent` command. For now it prints the version and what is planned; the CLI issue will add
 * inspection of logs and agents (tail, replay, rebuild).
 */
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
const [cmd] = process.argv.slice(2);
if (cmd === '--version' || cmd === '-v') {
  console.log(pkg.version);
} else {
  console.log(`dgent ${pkg.version}: event-sourced persistence for agent state.

usage: dgent --version

The inspection commands (tail a log, replay a stream, rebuild a projection) are not built yet.`);
  if (cmd !== undefined && cmd !== '--help' && cmd !== '-h') process.exitCode = 2;
}
