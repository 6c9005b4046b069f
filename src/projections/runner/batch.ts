/**
 * Committing a batch of log events to one generation: filter by `handles`, commit with the
 * checkpoint, retry outages with backoff, and when the projection throws, find the event it
 * cannot apply (events before it are committed one by one, so the view stays a prefix fold).
 */
import type { RecordedEvent } from '../../streams/event-log.js';
import { handlesType } from '../projection.js';
import { backoffMs, isRetryable, type Pause } from './backoff.js';
import { isLeaseLost, type BatchTarget, type Fence, type StorageDriver } from './driver.js';

/** The projection threw on the event at `position`; `cause` is its error. */
export class ApplyFailure extends Error {
  constructor(
    readonly position: number,
    readonly eventType: string,
    override readonly cause: unknown,
  ) {
    super(`projection could not apply the event at position ${position} (${eventType}): ${(cause as Error)?.message ?? String(cause)}`);
  }
}

/** Pacing of the retries of one committer. */
export interface RetryPolicy {
  maxBackoffMs: number;
  pause: Pause;
  /** stop retrying (closed): the commit throws the last error */
  stopped(): boolean;
  /** an outage was retried (shown in status) */
  onRetry(e: unknown): void;
}

/**
 * Commit `events` (all of them > the slot's checkpoint, in order) into `target`. Throws
 * ApplyFailure (after committing the events before the bad one), a lost-lease error, or the last
 * outage error once `policy.stopped()`. Returns the new checkpoint.
 */
export async function commitEvents(driver: StorageDriver, target: BatchTarget, events: readonly RecordedEvent[], fence: Fence | undefined, policy: RetryPolicy): Promise<number> {
  let rest = events;
  let singly = false;
  let position = -1;
  for (let attempt = 0; rest.length > 0; ) {
    const batch = singly ? rest.slice(0, 1) : rest;
    const last = batch[batch.length - 1]!;
    try {
      await driver.commit(target, batch.filter((e) => handlesType(target.projection, e.type)), last.position, fence);
      position = last.position;
      rest = rest.slice(batch.length);
      attempt = 0;
    } catch (e) {
      if (isLeaseLost(e)) throw e;
      if (isRetryable(e)) {
        policy.onRetry(e);
        if (policy.stopped()) throw e;
        await policy.pause.sleep(backoffMs(attempt++, policy.maxBackoffMs));
        continue;
      }
      if ((e as { partialBatch?: unknown }).partialBatch === true) throw new ApplyFailure(batch[0]!.position, batch[0]!.type, e); // partly applied (Redis): stop, never re-apply
      if (singly || batch.length === 1) throw new ApplyFailure(last.position, last.type, e);
      singly = true; // find the culprit: what precedes it commits, one event per transaction
    }
  }
  return position;
}
