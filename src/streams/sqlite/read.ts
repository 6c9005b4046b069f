/**
 * Reads of the SQLite log, on the reader connection. WAL gives each statement a consistent
 * snapshot of committed data, so reads never wait for the writer and never see a half-done group.
 *
 * Results come in pages (one prepared statement run each) rather than a cursor held open across
 * `yield`: a consumer that iterates slowly then holds no read transaction, which would keep WAL
 * checkpoints from completing.
 */
import type { RecordedEvent } from '../event-log.js';
import type { ReadWindow } from '../validate.js';
import { decodeFast } from './json.js';
import type { EventRow, ReaderStatements } from './statements.js';

const EMPTY_METADATA: Record<string, unknown> = Object.freeze({});
/** SQLite integers are 64-bit; LIMIT needs a finite bound. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** Decode one row into a frozen RecordedEvent; damaged JSON throws CorruptionError naming the position. */
export function toEvent(row: EventRow, path: string): RecordedEvent {
  const [position, stream, revision, id, type, data, metadata, time] = row;
  return Object.freeze({
    id,
    stream,
    revision,
    position,
    type,
    data: decodeFast(data, path, position),
    metadata: metadata === null ? EMPTY_METADATA : decodeFast<Record<string, unknown>>(metadata, path, position),
    time: new Date(time),
  });
}

/** A row of another stream, seen by a stream-filtered subscription only to move its position on: not decoded. */
function skeleton(row: EventRow): RecordedEvent {
  return { id: row[3], stream: row[1], revision: row[2], position: row[0], type: row[4], data: undefined, metadata: EMPTY_METADATA, time: new Date(row[7]) };
}

/** Run one page query; the caller retries on SQLITE_BUSY. */
export type PageRunner = <T>(fn: () => T) => Promise<T>;

/** Events of one stream within the window, page by page. */
export async function* readStream(s: ReaderStatements, run: PageRunner, stream: string, w: ReadWindow, pageSize: number, path: string): AsyncGenerator<RecordedEvent> {
  let left = w.limit;
  let from = w.from;
  const to = w.to;
  // events appended while the caller iterates are not part of this read
  const head = await run(() => s.head.get(stream) ?? 0);
  if (w.direction === 'forward') {
    const last = Math.min(to, head);
    while (left > 0 && from <= last) {
      const rows = await run(() => s.forward.all(stream, from, last, Math.min(left, pageSize)));
      if (rows.length === 0) return;
      for (const row of rows) yield toEvent(row, path);
      left -= rows.length;
      from = rows[rows.length - 1]![2] + 1;
    }
  } else {
    from = Math.min(from, head);
    while (left > 0 && from >= to) {
      const rows = await run(() => s.backward.all(stream, from, to, Math.min(left, pageSize)));
      if (rows.length === 0) return;
      for (const row of rows) yield toEvent(row, path);
      left -= rows.length;
      from = rows[rows.length - 1]![2] - 1;
    }
  }
}

/** Every event after `after` in position order, at most `limit`, optionally of some types only. */
export async function* readPositions(
  s: ReaderStatements,
  run: PageRunner,
  after: number,
  limit: number,
  pageSize: number,
  path: string,
  filter?: { types?: ReadonlySet<string>; stream?: string },
): AsyncGenerator<RecordedEvent> {
  let left = limit === Infinity ? NO_LIMIT : limit;
  let last = after;
  const types = filter?.types;
  const stream = filter?.stream;
  const end = await run(() => s.maxPosition.get() ?? 0);
  while (left > 0 && last < end) {
    // filtering by type happens here, so a page may deliver fewer than it read
    const rows = await run(() => s.all.all(last, types || stream !== undefined ? pageSize : Math.min(left, pageSize)));
    if (rows.length === 0) return;
    for (const row of rows) {
      if (row[0] > end || left === 0) return;
      last = row[0];
      if (types && !types.has(row[4])) continue;
      if (stream !== undefined && row[1] !== stream) {
        yield skeleton(row);
        continue;
      }
      left--;
      yield toEvent(row, path);
    }
  }
}
