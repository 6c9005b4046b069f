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
import { decode } from '../../core/codec.js';
import { CorruptionError } from '../../core/errors.js';
import type { EventRow, ReaderStatements } from './statements.js';

const EMPTY_METADATA: Record<string, unknown> = Object.freeze({});
/** SQLite integers are 64-bit; LIMIT needs a finite bound. */
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/** Decode one row into a frozen RecordedEvent; damaged JSON throws CorruptionError naming the position. */
export function toEvent(row: EventRow, path: string): RecordedEvent {
  const [position, stream, revision, id, type, data, metadata, time] = row;
  try {
    return Object.freeze({
      id,
      stream,
      revision,
      position,
      type,
      data: decode(data),
      metadata: metadata === null ? EMPTY_METADATA : decode<Record<string, unknown>>(metadata),
      time: new Date(time),
    });
  } catch (e) {
    // the location is built only here: this function runs once per event read
    throw e instanceof CorruptionError ? new CorruptionError(e.message, `${path} position ${position}`, { cause: e }) : e;
  }
}

/** A row of another stream, seen by a stream-filtered subscription only to move its position on: not decoded. */
function skeleton(row: EventRow): RecordedEvent {
  return { id: row[3], stream: row[1], revision: row[2], position: row[0], type: row[4], data: undefined, metadata: EMPTY_METADATA, time: new Date(row[7]) };
}

/** Run one page query; the caller retries on SQLITE_BUSY. */
export type PageRunner = <T>(fn: () => T) => Promise<T>;

/** What {@link RowIterator} does with a row: an event to hand out, `SKIP` it, or `STOP` the read. */
const SKIP = 0;
const STOP = 1;
type Converted = RecordedEvent | typeof SKIP | typeof STOP;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Hands out events from pages of rows, converting each row only when it is asked for (a damaged
 * row fails the read at that event, after the ones before it). One resolved promise per event, no
 * async generator machinery: this loop is most of the cost of a large read.
 */
class RowIterator implements AsyncIterableIterator<RecordedEvent> {
  private rows: EventRow[] = [];
  private i = 0;
  private finished = false;

  constructor(
    /** the next page; empty when there is nothing more */
    private readonly fetch: () => Promise<EventRow[]>,
    private readonly convert: (row: EventRow) => Converted,
  ) {}

  next(): Promise<IteratorResult<RecordedEvent>> {
    try {
      while (!this.finished && this.i < this.rows.length) {
        const e = this.convert(this.rows[this.i++]!);
        if (e === STOP) this.finished = true;
        else if (e !== SKIP) return Promise.resolve({ done: false, value: e });
      }
    } catch (err) {
      this.finished = true;
      return Promise.reject(err);
    }
    if (this.finished) return Promise.resolve(DONE);
    return this.fetch().then((rows) => {
      this.rows = rows;
      this.i = 0;
      if (rows.length === 0) this.finished = true;
      return this.next();
    });
  }

  return(): Promise<IteratorResult<RecordedEvent>> {
    this.finished = true;
    this.rows = [];
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Events of one stream within the window, page by page; events appended meanwhile are not part of it. */
export function readStream(s: ReaderStatements, run: PageRunner, stream: string, w: ReadWindow, pageSize: number, path: string): AsyncIterableIterator<RecordedEvent> {
  const forward = w.direction === 'forward';
  let left = w.limit;
  let next = w.from; // the next revision wanted
  let bound: number | undefined; // the last revision wanted, fixed by the first page
  return new RowIterator(
    async () => {
      if (bound === undefined) {
        const head = await run(() => s.head.get(stream) ?? 0);
        bound = forward ? Math.min(w.to, head) : w.to;
        if (!forward) next = Math.min(next, head);
      }
      if (left <= 0 || (forward ? next > bound : next < bound)) return [];
      const from = next;
      const to = bound;
      const rows = await run(() => (forward ? s.forward : s.backward).all(stream, from, to, Math.min(left, pageSize)));
      left -= rows.length;
      if (rows.length > 0) next = rows[rows.length - 1]![2] + (forward ? 1 : -1);
      return rows;
    },
    (row) => toEvent(row, path),
  );
}

/**
 * Every event after `after` in position order, at most `limit`, of some types only. With `stream`
 * (subscriptions), rows of other streams come out as undecoded skeletons: the subscription skips
 * them but moves its position past them, so it never rereads them.
 */
export function readPositions(
  s: ReaderStatements,
  run: PageRunner,
  after: number,
  limit: number,
  pageSize: number,
  path: string,
  filter?: { types?: ReadonlySet<string>; stream?: string },
): AsyncIterableIterator<RecordedEvent> {
  let left = limit === Infinity ? NO_LIMIT : limit;
  let last = after;
  let end: number | undefined; // events committed after the read started are not part of it
  const types = filter?.types;
  const stream = filter?.stream;
  // filtering happens here, so a page may deliver fewer than it read: then read full pages
  const filtering = types !== undefined || stream !== undefined;
  return new RowIterator(
    async () => {
      end ??= await run(() => s.maxPosition.get() ?? 0);
      if (left <= 0 || last >= end) return [];
      const from = last;
      return run(() => s.all.all(from, filtering ? pageSize : Math.min(left, pageSize)));
    },
    (row) => {
      if (row[0] > end! || left <= 0) return STOP;
      last = row[0];
      if (types && !types.has(row[4])) return SKIP;
      if (stream !== undefined && row[1] !== stream) return skeleton(row);
      left--;
      return toEvent(row, path);
    },
  );
}
