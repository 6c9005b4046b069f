/**
 * Building a generation from the log with `readAll` pages (no subscription): used by rebuilds, for
 * both modes. Reports progress as it goes.
 */
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';
import { backoffMs, isRetryable } from './backoff.js';
import { commitEvents, type RetryPolicy } from './batch.js';
import { readPage } from './shared-pages.js';
import type { BatchTarget, Fence, StorageDriver } from './driver.js';

/** What a shadow build needs. */
export interface ShadowBuild {
  driver: StorageDriver;
  log: EventLog;
  target: BatchTarget;
  fence: Fence;
  batchSize: number;
  policy: RetryPolicy;
  /** called after every committed page with the events read in it */
  onPage(events: number, position: number): void;
}

/** Fold pages after `from` into the target until a page comes back short; returns the checkpoint reached. */
export async function catchUp(b: ShadowBuild, from: number): Promise<number> {
  let position = from;
  for (let attempt = 0; ; ) {
    let page: readonly RecordedEvent[];
    try {
      // rebuilds of several projections running together share the pages (one read and decode)
      page = await readPage(b.log, position, b.batchSize);
    } catch (e) {
      if (!isRetryable(e) || b.policy.stopped()) throw e;
      b.policy.onRetry(e);
      await b.policy.pause.sleep(backoffMs(attempt++, b.policy.maxBackoffMs));
      continue;
    }
    attempt = 0;
    if (page.length > 0) {
      position = await commitEvents(b.driver, b.target, page, b.fence, b.policy);
      b.onPage(page.length, position);
    }
    if (page.length < b.batchSize) return position;
    if (b.policy.stopped()) throw new Error('runner closed during a rebuild');
  }
}
