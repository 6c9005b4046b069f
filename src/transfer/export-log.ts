/** `exportLog`: a log as JSONL lines, in position order (see jsonl.ts for the format). */
import type { EventLog } from '../streams/event-log.js';
import { eventToLine } from './jsonl.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { sqliteLines } from './exporters/sqlite.js';
import type { OnProgress } from './progress.js';

/** Options of {@link exportLog}. */
export interface ExportOptions {
  /** export events after this position (default 0: all) */
  fromPosition?: number | undefined;
  /** only events of these streams' names starting with this prefix */
  streamPrefix?: string | undefined;
  /** told every `progressEvery` events and at the end */
  onProgress?: OnProgress | undefined;
  /** default 1000 */
  progressEvery?: number | undefined;
  /** the number of events expected, passed through to onProgress */
  total?: number | undefined;
}

/**
 * The events of `log` as JSONL lines (no trailing newline), in position order.
 *
 * @example
 * ```ts
 * const out = createWriteStream('backup.jsonl');
 * for await (const line of exportLog(log)) out.write(line + '\n');
 * ```
 */
export async function* exportLog(log: EventLog, options: ExportOptions = {}): AsyncIterable<string> {
  const every = options.progressEvery ?? 1000;
  let done = 0;
  let position: number | undefined;
  if (log instanceof SqliteEventLog) {
    // the columns hold the codec's text already: no decode and encode per event
    await log.revision('dgent-export'); // opens the file (and fails as the log would) first
    for (const line of sqliteLines(log.path, options.fromPosition ?? 0, options.streamPrefix)) {
      yield line;
      done++;
      if (options.onProgress && done % every === 0) options.onProgress({ done, total: options.total });
    }
  } else {
    for await (const e of log.readAll({ fromPosition: options.fromPosition ?? 0 })) {
      if (options.streamPrefix !== undefined && !e.stream.startsWith(options.streamPrefix)) continue;
      yield eventToLine(e);
      done++;
      position = e.position;
      if (options.onProgress && done % every === 0) options.onProgress({ done, total: options.total, position });
    }
  }
  options.onProgress?.({ done, total: options.total ?? done, position });
}
