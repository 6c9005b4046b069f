/**
 * What the runner needs from a view storage (implemented by the four storages; not for readers).
 *
 * One control record per projection holds the active generation (version, checkpoint), the
 * highest position inline hooks have seen, the generation being rebuilt, and beside it a lease.
 * Every write below is one transaction of the storage, so the checkpoint always moves together
 * with the view it describes.
 */
import type { RecordedEvent } from '../../streams/event-log.js';
import type { AppendTransaction } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import type { ViewPhase } from '../view-context.js';
import type { ViewStorage } from '../view-storage.js';
import { LockedError, ValidationError } from '../../core/errors.js';

/** A projection's control record. Generation 0 / version 0: never built. */
export interface ControlRow {
  generation: number;
  version: number;
  /** checkpoint of the active generation */
  position: number;
  /** inline: the highest position an append's hook has seen (applied or not) */
  seen: number;
  /** the generation a rebuild is writing, if any */
  building: { generation: number; version: number; position: number } | undefined;
}

/** Which checkpoint a batch advances. */
export type Slot = 'active' | 'building';

/** One batch for one generation. */
export interface BatchTarget {
  projection: Projection<any>;
  generation: number;
  version: number;
  phase: ViewPhase;
  slot: Slot;
}

/** The lease fencing a write: commits only while `owner` holds it, and extend it by `ttlMs`. */
export interface Fence {
  owner: string;
  ttlMs: number;
}

/** One projection's share of an append. */
export interface InlineItem {
  projection: Projection<any>;
  /** the append's events the projection handles (may be empty) */
  events: readonly RecordedEvent[];
}

/** Inline support: the view update inside the log's own append transaction. */
export interface InlineDriver {
  /**
   * Inside the append's transaction `tx`, for every item: record `maxPosition` as seen (locking
   * the control record until the append commits), and when the active generation's version is
   * the projection's, apply its events (possibly none) there and advance the active checkpoint.
   * A generation at another version is left as it is (a version rebuild is replacing it). Throws
   * (aborting the append) when a projection throws.
   */
  apply(tx: AppendTransaction, items: readonly InlineItem[], maxPosition: number): Promise<void> | void;
  /**
   * Optional: an object the log may use to write these projections' effect of a lone event in the
   * append's own statement (PostgreSQL, see storage/postgres-fused.ts); set on the hook as
   * `postgresFusion`. Undefined when the group cannot fuse.
   */
  fusion?(projections: readonly Projection<any>[]): unknown;
  /** The group that took `fusion` closed: forget it. */
  releaseFusion?(fusion: unknown): void;
}

/** What a switch needs to fold the last events itself. */
export interface SwitchTail {
  log: import('../../streams/event-log.js').EventLog;
  projection: Projection<any>;
}

/** The runner's side of a storage. */
export interface StorageDriver extends ViewStorage {
  /** create the control objects (idempotent, safe across processes) */
  init(): Promise<void>;
  control(name: string): Promise<ControlRow | undefined>;
  /** create the control record if missing, as given; returns the stored one */
  ensureControl(name: string, initial: ControlRow): Promise<ControlRow>;
  /** run `projection.setup` for a generation, in one transaction */
  setup(target: BatchTarget): Promise<void>;
  /**
   * One transaction: `apply(events)` into the target generation (skipped when `events` is empty)
   * and set the slot's checkpoint to `position`, fenced by the lease when `fence` is given
   * (LockedError when it was lost: nothing is written).
   */
  commit(target: BatchTarget, events: readonly RecordedEvent[], position: number, fence: Fence | undefined): Promise<void>;
  /** record that `generation` (at `version`) is being built from position 0 (fenced) */
  beginBuild(name: string, generation: number, version: number, fence: Fence): Promise<void>;
  /**
   * Switch atomically to the building generation if its checkpoint is >= both the active checkpoint
   * and the inline `seen` mark; returns false (nothing changed) when it is behind. Fenced. With a
   * `tail` (inline projections), a storage that can hold back the log's appends meanwhile (SQLite:
   * the file's write lock; PostgreSQL: the control row the inline hooks lock) folds the events
   * committed since the building checkpoint in the same transaction, then switches: the switch
   * cannot be starved by a steady stream of appends.
   */
  trySwitch(name: string, generation: number, fence: Fence, tail?: SwitchTail): Promise<boolean>;
  /** drop the objects of every generation of `projection` but `keep` (`teardown` per generation, else every object named for it) */
  dropExcept(projection: Projection<any>, keep: number): Promise<void>;
  /** take or extend the lease of `name` for `owner`; false while another owner holds it */
  acquire(name: string, fence: Fence): Promise<boolean>;
  /** give the lease up if `owner` holds it */
  release(name: string, owner: string): Promise<void>;
  /** inline support, when the storage can share the log's append transaction */
  readonly inline: InlineDriver | undefined;
  /** whether this storage is the log's own backend, so inline hooks can write it in the append's transaction */
  hostsInline(log: unknown): boolean;
  /** the active generation changed (this process switched): refresh caches */
  invalidate(name: string): void;
}

/** True when a ViewStorage is one of dgent's storages (they all implement the driver side). */
export function isStorageDriver(s: ViewStorage): s is StorageDriver {
  const d = s as Partial<StorageDriver>;
  return typeof d.commit === 'function' && typeof d.control === 'function' && typeof d.acquire === 'function';
}

/** A lease-fenced write found the lease gone (another runner took over): nothing was written. */
export function leaseLost(name: string): LockedError {
  return Object.assign(new LockedError(`lease of projection ${name}`), { leaseLost: true });
}

/** Whether `e` is a lost-lease failure. */
export function isLeaseLost(e: unknown): boolean {
  return e instanceof LockedError && (e as { leaseLost?: unknown }).leaseLost === true;
}

/**
 * Inline: whether this append folds into the active generation (true), or is left to a rebuild
 * that will fold it from the log (false: never built yet, a rebuild to this process's version is
 * under way, or the active generation is older: this process's start() rebuilds it). Throws
 * ValidationError when the active generation is NEWER than this process's code and nothing is
 * building its version (a process still running old code after an upgrade): folding with old
 * code would corrupt the view and skipping would leave a gap, so the append is refused.
 */
export function inlineApplies(name: string, codeVersion: number, active: { generation: number; version: number; buildingVersion: number | null | undefined }): boolean {
  if (active.version === codeVersion) return true;
  if (active.generation === 0 || active.buildingVersion === codeVersion || active.version < codeVersion) return false;
  throw new ValidationError(
    `projection ${name}: this process runs version ${codeVersion} but its view is at version ${active.version}; upgrade this process (or start a runner with version ${codeVersion} to rebuild the view); its appends are refused meanwhile`,
  );
}
