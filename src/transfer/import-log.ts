/**
 * `importLog`: write events recorded elsewhere (an export, another log) into a log, keeping their
 * ids, revisions, metadata, times and position order. SQLite and PostgreSQL logs (the latter when
 * opened with openLog) are written directly; a FileEventLog or MemoryEventLog through its `importEvents`. Other logs
 * cannot set an event's time: with `newTimes: true` their events are appended (ids, revisions,
 * metadata kept, times now), otherwise the import is refused before anything is written.
 */
import { ValidationError, shown } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { FileEventLog } from '../streams/file/file-event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { logTarget } from '../open/open-log.js';
import type { ImportedEvent } from './jsonl.js';
import type { OnProgress } from './progress.js';
import type { BatchImporter } from './importers/types.js';

/** Options of {@link importLog}. */
export interface ImportOptions {
  /** events per transaction (default 1000) */
  batchSize?: number | undefined;
  /** told after every batch */
  onProgress?: OnProgress | undefined;
  /** the number of events expected, passed through to onProgress */
  total?: number | undefined;
  /** allow a log that cannot keep times to give the events new ones (default false) */
  newTimes?: boolean | undefined;
}

/** What {@link importLog} did. */
export interface ImportResult {
  /** events read from the input */
  read: number;
  /** events written (read minus those already stored with the same id) */
  written: number;
}

/** Whether `log` keeps imported events' times. */
export function keepsTimes(log: EventLog): boolean {
  if (log instanceof SqliteEventLog || log instanceof FileEventLog || log instanceof MemoryEventLog) return true;
  return logTarget(log)?.kind === 'postgres';
}

async function importerFor(log: EventLog, newTimes: boolean): Promise<BatchImporter> {
  if (log instanceof SqliteEventLog) return (await import('./importers/sqlite.js')).sqliteImporter(log);
  if (log instanceof FileEventLog || log instanceof MemoryEventLog) {
    return {
      async write(batch) {
        await log.importEvents(batch as readonly Omit<RecordedEvent, 'position'>[]);
        return batch.length;
      },
      async close() {},
    };
  }
  const target = logTarget(log);
  if (target?.kind === 'postgres') return (await import('./importers/postgres.js')).postgresImporter(log, target.connectionString, target.schema);
  if (!newTimes) {
    throw new ValidationError(
      `import: this ${target ? `${target.kind} ` : ''}log cannot keep the events' times (only SQLite, PostgreSQL opened by URL, file and memory logs can); pass newTimes: true (--new-times) to append them with the current time`,
    );
  }
  return {
    async write(batch) {
      // runs of one stream, each appended at its expected revision with the events' ids
      let i = 0;
      while (i < batch.length) {
        let j = i + 1;
        while (j < batch.length && batch[j]!.stream === batch[i]!.stream) j++;
        const run = batch.slice(i, j);
        await log.append(run[0]!.stream, run.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })), { expectedRevision: run[0]!.revision - 1 });
        i = j;
      }
      return batch.length;
    },
    async close() {},
  };
}

/**
 * Import `events` (in position order) into `log`.
 *
 * @example
 * ```ts
 * const source = await openLog('sqlite:./old.db');
 * const target = await openLog('postgres://localhost/app');
 * await importLog(target, source.readAll(), { onProgress: (p) => console.log(p.done) });
 * ```
 */
export async function importLog(log: EventLog, events: AsyncIterable<ImportedEvent> | Iterable<ImportedEvent>, options: ImportOptions = {}): Promise<ImportResult> {
  const size = options.batchSize ?? 1000;
  if (!Number.isInteger(size) || size < 1) throw new ValidationError(`batchSize must be an integer >= 1, got ${shown(options.batchSize)}`);
  const importer = await importerFor(log, options.newTimes ?? false);
  let read = 0;
  let written = 0;
  let batch: ImportedEvent[] = [];
  // one batch in flight while the next is read and parsed: the backend's work and ours overlap;
  // batches still go in order (a write starts only once the previous one succeeded)
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const mine = batch;
    const done = read;
    batch = [];
    const previous = inFlight;
    inFlight = previous.then(async () => {
      written += await importer.write(mine);
      options.onProgress?.({ done, total: options.total, position: mine[mine.length - 1]!.position });
    });
    await previous; // at most one write waits behind the running one
  };
  try {
    for await (const e of events) {
      batch.push(e);
      read++;
      if (batch.length >= size) await flush();
    }
    await flush();
    await inFlight;
  } finally {
    await inFlight.catch(() => undefined); // the error, if any, was thrown above
    await importer.close();
  }
  if (read === 0) options.onProgress?.({ done: 0, total: options.total ?? 0 });
  return { read, written };
}
