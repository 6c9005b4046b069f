/**
 * Reading the log's extent through the public EventLog API only: the head position (probing
 * `readAll` with limit 1, exponentially then by bisection: O(log n) indexed reads) and the events
 * after a checkpoint (counted up to a cap).
 */
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';

/** The first event after `position`, or undefined. */
export async function firstAfter(log: EventLog, position: number): Promise<RecordedEvent | undefined> {
  for await (const e of log.readAll({ fromPosition: position, limit: 1 })) return e;
  return undefined;
}

/** The position of the last event in the log (0 when empty), at least `from`'s next event. */
export async function headPosition(log: EventLog, from = 0): Promise<number> {
  let known = (await firstAfter(log, from))?.position;
  if (known === undefined) return from;
  // grow the step until a probe finds nothing after `known + step`
  let step = 1024;
  for (;;) {
    const e = await firstAfter(log, known + step);
    if (!e) break;
    known = e.position;
    step *= 4;
  }
  // the head is in (known, known + step]: bisect on "is there an event after p"
  let lo = known;
  let hi = known + step;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    const e = await firstAfter(log, mid);
    if (e) lo = Math.max(mid, e.position);
    else hi = mid;
  }
  const last = await firstAfter(log, lo);
  return last ? last.position : lo;
}

/** Events after `position` (at most `cap`), and the time of the first of them. */
export async function lagAfter(log: EventLog, position: number, cap: number): Promise<{ events: number; oldest: Date | undefined }> {
  let events = 0;
  let oldest: Date | undefined;
  for await (const e of log.readAll({ fromPosition: position, limit: cap })) {
    if (events === 0) oldest = e.time;
    events++;
  }
  return { events, oldest };
}
