/**
 * Public types of the projection runner: how projections are registered, and what `status()`,
 * `whenCaughtUp()` and `rebuild()` report.
 */
import type { Projection } from '../projection.js';
import type { ViewContext } from '../view-context.js';
import type { ViewStorage } from '../view-storage.js';

/**
 * How a projection runs.
 * - `inline`: applied inside every append's transaction (memory, SQLite, PostgreSQL logs, views on
 *   the log's own backend). A throwing inline projection aborts the append: nothing is stored and
 *   the append rejects with the projection's error. Every process appending to the log must run it.
 * - `async`: a subscription from the stored checkpoint, applied in batches; the checkpoint commits
 *   in the same transaction as the view update; one active runner per projection across processes
 *   (lease); the view may live on another backend than the log.
 */
export type ProjectionMode = 'inline' | 'async';

/** One projection as registered with a runner. */
export interface ProjectionRegistration<C extends ViewContext = ViewContext> {
  projection: Projection<C>;
  /** default: `inline` when the log hosts inline projections and `storage` is on the log's backend, else `async` */
  mode?: ProjectionMode | undefined;
  /** where its view lives (default: the runner's `storage`) */
  storage?: ViewStorage | undefined;
}

/** Lifecycle state of one projection in one runner. */
export type ProjectionState =
  /** async: caught up with the log (within one batch) and following it; inline: attached to the log's appends */
  | 'running'
  /** async: applying events behind the head of the log */
  | 'catching_up'
  /** a rebuild (explicit, or after a version bump) is building a shadow generation */
  | 'rebuilding'
  /** async: waiting for the lease another process holds (takes over when it expires) */
  | 'standby'
  /** stopped on an event it could not apply; see `lastError` */
  | 'failed'
  /** closed, or not started */
  | 'stopped';

/** The error that stopped a projection (or the last one retried). */
export interface ProjectionError {
  /** position of the event the projection could not apply (undefined: not tied to an event, e.g. setup or the storage) */
  position: number | undefined;
  /** type of that event */
  eventType: string | undefined;
  error: unknown;
  at: Date;
}

/** What `status()` reports per projection. */
export interface ProjectionStatus {
  name: string;
  mode: ProjectionMode;
  state: ProjectionState;
  /** checkpoint of the active generation: the last log position folded into the view */
  position: number;
  /** events in the log after `position` (counted up to 10 000; more reads as 10 000) */
  lagEvents: number;
  /** how long the oldest unapplied event has been in the log, ms (0 when caught up) */
  lagMs: number;
  generation: number;
  version: number;
  /** whether this runner holds the async lease (inline: always true) */
  leader: boolean;
  lastError: ProjectionError | undefined;
}

/** What `rebuild`'s `onProgress` receives (at most every `progressEveryMs`, and once at the end). */
export interface RebuildProgress {
  name: string;
  /** events read from the log so far (handled or not) */
  processed: number;
  /** events in the log when the rebuild started (the total grows if appends continue) */
  total: number;
  eventsPerSecond: number;
  /** estimated time left, ms (undefined until measurable) */
  etaMs: number | undefined;
}

/** Options of `rebuild`. */
export interface RebuildOptions {
  onProgress?: ((p: RebuildProgress) => void) | undefined;
  /** ms between progress reports (default 500) */
  progressEveryMs?: number | undefined;
}

/** Options of `whenCaughtUp`. */
export interface WhenCaughtUpOptions {
  /** wait until every (or the named) projection's checkpoint is >= this position (default: the log's head when called) */
  position?: number | undefined;
  /** only this projection */
  name?: string | undefined;
  /** reject with BackendUnavailableError after this long (default 30 000) */
  timeoutMs?: number | undefined;
}

/** Options of the runner. */
export interface ProjectionRunnerOptions {
  /** the event log to project (an EventLog; inline mode needs one with `onAppend`) */
  log: import('../../streams/event-log.js').EventLog;
  /** default storage of the registered projections */
  storage?: ViewStorage | undefined;
  /** projections, or registrations with a mode and storage */
  projections: readonly (Projection<any> | ProjectionRegistration<any>)[];
  /** async: events per batch at most (default 500) */
  batchSize?: number | undefined;
  /** async: commit a partial batch after this long (default 20 ms) */
  batchMs?: number | undefined;
  /**
   * async lease duration, ms (default 10 000). The holder renews it every `leaseMs / 3` and at
   * every commit; a standby polls every `leaseMs / 4`, so after the holder dies (SIGKILL) a
   * standby takes over within `leaseMs * 1.25` plus one batch.
   */
  leaseMs?: number | undefined;
  /** an id for this runner in leases (default: host, pid and a random suffix) */
  owner?: string | undefined;
  /** BackendUnavailableError retries back off from 50 ms up to this (default 5 000); retried without limit */
  maxBackoffMs?: number | undefined;
}
