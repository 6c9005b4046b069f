/**
 * Finding revisions in a stream without reading it whole: the event at a revision, and the last
 * revision recorded at or before a time (a binary search of single-event reads).
 */
import { CorruptionError } from '../../core/errors.js';
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';

/** The event at `revision`, or undefined when the stream is shorter. */
export async function eventAt(log: EventLog, stream: string, revision: number): Promise<RecordedEvent | undefined> {
  for await (const e of log.read(stream, { fromRevision: revision, toRevision: revision, limit: 1 })) return e;
  return undefined;
}

/**
 * The highest revision <= `head` whose event time is <= `t` (0 when none), in O(log head) reads.
 * Event times are taken to be non-decreasing along a stream, which holds for every log that stamps
 * events when it appends them under the stream's lock; for a clock that stepped backwards, the
 * answer is a revision at a time <= t next to one after it.
 */
export async function revisionAtTime(log: EventLog, stream: string, t: number, head: number): Promise<number> {
  if (head === 0) return 0;
  const timeOf = async (r: number): Promise<number> => {
    const e = await eventAt(log, stream, r);
    // the stream cannot shrink, so a missing event means the log broke its contract
    if (!e) throw new CorruptionError(`event at revision ${r} disappeared while searching by time`, `stream ${JSON.stringify(stream)}`);
    return e.time.getTime();
  };
  if ((await timeOf(head)) <= t) return head;
  if ((await timeOf(1)) > t) return 0;
  let lo = 1; // time(lo) <= t
  let hi = head - 1; // answer is in [lo, hi]
  while (lo < hi) {
    const mid = lo + Math.ceil((hi - lo) / 2);
    if ((await timeOf(mid)) <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
