/** Opening the backend a command names: the `[url]` argument, else `--url`, else DGENT_* (fromEnv). */
import type { EventLog } from '../streams/event-log.js';
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

/** Open the log, run `fn`, close the log (also when `fn` fails). `readOnly`: file logs take no lock. */
export async function withLog<T>(url: string | undefined, fn: (log: EventLog) => Promise<T>, opts: { readOnly?: boolean; role?: BackendRole } = {}): Promise<T> {
  const target = resolveTarget(url, opts.role ?? 'log');
  const log = await openLogTarget(target, { readOnly: opts.readOnly ?? false });
  try {
    return await fn(log);
  } finally {
    await log.close().catch(() => undefined); // the command's own error is the one to report
  }
}

/** Open a Store (its views on the log's backend), run `fn`, close it and its log. */
export async function withStore<T>(url: string | undefined, fn: (store: Store) => Promise<T>): Promise<T> {
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
