/** Opening the backend a command names: the `[url]` argument, else `--url`, else DGENT_* (fromEnv). */
import { existsSync } from 'node:fs';
import type { EventLog } from '../streams/event-log.js';
import type { BackendTarget } from '../open/backend-url.js';
import type { Store } from '../store/store.js';
import { resolveTarget, type BackendRole } from '../open/env.js';
import { openLogTarget } from '../open/open-log.js';
import { openStore } from '../open/open-store.js';
import type { GlobalOptions } from './output.js';
import { CliError, EXIT } from './exit-codes.js';

/** The URL a command runs against (positional first, then --url); undefined: the environment's. */
export function chosenUrl(positional: string | undefined, options: GlobalOptions): string | undefined {
  return positional ?? options.url;
}

/**
 * Fail with exit code 3 when the target is a SQLite file or a file-log directory that does not
 * exist: opening it would create it (and its parent folders), so a command that only reads would
 * report a typo as an empty log. Commands that write (import, rebuild) create it as before.
 */
export function requireExisting(target: BackendTarget): void {
  if (target.kind === 'sqlite' && !existsSync(target.path)) throw new CliError(`no such database file: ${target.path}`, EXIT.NOT_FOUND);
  if (target.kind === 'file' && !existsSync(target.dir)) throw new CliError(`no such log directory: ${target.dir}`, EXIT.NOT_FOUND);
}

/**
 * Open the log, run `fn`, close the log (also when `fn` fails). `readOnly`: file logs take no lock.
 * `existing` (default: `readOnly`): a missing SQLite file or log directory is not found (exit 3), not created.
 */
export async function withLog<T>(url: string | undefined, fn: (log: EventLog) => Promise<T>, opts: { readOnly?: boolean; existing?: boolean; role?: BackendRole } = {}): Promise<T> {
  const target = resolveTarget(url, opts.role ?? 'log');
  if (opts.existing ?? opts.readOnly ?? false) requireExisting(target);
  const log = await openLogTarget(target, { readOnly: opts.readOnly ?? false });
  try {
    return await fn(log);
  } finally {
    await log.close().catch(() => undefined); // the command's own error is the one to report
  }
}

/**
 * Open a Store (its views on the log's backend), run `fn`, close it and its log. `existing`: a
 * missing SQLite file or log directory is not found (exit 3), not created (commands that only read).
 */
export async function withStore<T>(url: string | undefined, fn: (store: Store) => Promise<T>, opts: { existing: boolean }): Promise<T> {
  if (opts.existing) requireExisting(resolveTarget(url, 'store'));
  const store = await openStore(url, { sweepIntervalMs: 0 });
  try {
    return await fn(store);
  } finally {
    await store.close().catch(() => undefined);
  }
}

/** Fail with exit code 3 unless the stream has events. */
export async function requireStream(log: EventLog, stream: string): Promise<number> {
  const revision = await log.revision(stream);
  if (revision === 0) throw new CliError(`stream ${JSON.stringify(stream)} not found (it has no events)`, EXIT.NOT_FOUND);
  return revision;
}
