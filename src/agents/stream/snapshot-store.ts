/**
 * The SnapshotStore contract: where a StreamAgent keeps folded states at some revisions so that
 * `load()` and `loadAt()` do not replay whole streams.
 *
 * Snapshots are a cache of the log, never a source of truth: they live outside the user's streams
 * (no snapshot ever shows up in `read` or `readAll`), any of them can be deleted and rebuilt, and a
 * snapshot whose `version` (the fold version) differs from the agent's is ignored.
 *
 * @example
 * ```ts
 * const snapshots = new SqliteSnapshotStore({ path: './data/snapshots.db' });
 * const agent = new StreamAgent({ log, stream: 'cart-1', initial, fold, snapshotEvery: 100, snapshots });
 * ```
 */
import { InvalidKeyError, ValidationError, shown } from '../../core/errors.js';

/** One stored snapshot: the encoded state after the event `eventId` at `revision` of `stream`. */
export interface SnapshotRecord {
  stream: string;
  revision: number;
  /** the fold version the state was computed with */
  version: string;
  /** time of the event at `revision` */
  time: Date;
  /** id of the event at `revision`: a snapshot of another incarnation of the stream is detected and ignored */
  eventId: string;
  /** the state, encoded with dgent's codec */
  state: string;
}

/** A snapshot without its state, as listed by {@link SnapshotStore.list}. */
export type SnapshotInfo = Omit<SnapshotRecord, 'state'>;

/** Which snapshot {@link SnapshotStore.get} returns. */
export interface SnapshotQuery {
  /** the fold version to match exactly */
  version: string;
  /** the latest snapshot at or below this revision (default: the latest) */
  maxRevision?: number | undefined;
}

/** Storage for StreamAgent snapshots. */
export interface SnapshotStore {
  /** The snapshot of `stream` with the highest revision <= maxRevision and the given version. */
  get(stream: string, query: SnapshotQuery): Promise<SnapshotRecord | undefined>;
  /** Store a snapshot; a snapshot with the same stream, version and revision is replaced. */
  put(snapshot: SnapshotRecord): Promise<void>;
  /** Snapshots of a stream (every version), ascending by revision. */
  list(stream: string): Promise<SnapshotInfo[]>;
  /** Delete every snapshot of a stream (every version). Returns how many were deleted. */
  delete(stream: string): Promise<number>;
  close(): Promise<void>;
}

/** Validate a snapshot before storing it (shared by the stores). */
export function validateSnapshot(s: SnapshotRecord): SnapshotRecord {
  if (typeof s.stream !== 'string' || s.stream.length === 0) throw new InvalidKeyError(s.stream, 'snapshot stream must be a non-empty string');
  if (!Number.isInteger(s.revision) || s.revision < 1) throw new ValidationError(`snapshot revision must be an integer >= 1, got ${shown(s.revision)}`);
  if (typeof s.version !== 'string') throw new ValidationError('snapshot version must be a string');
  if (!(s.time instanceof Date) || Number.isNaN(s.time.getTime())) throw new ValidationError('snapshot time must be a valid Date');
  if (typeof s.eventId !== 'string' || s.eventId.length === 0) throw new ValidationError('snapshot eventId must be a non-empty string');
  if (typeof s.state !== 'string') throw new ValidationError('snapshot state must be the encoded text');
  return s;
}

/** Validate a query's maxRevision (undefined = no bound). */
export function maxRevisionOf(q: SnapshotQuery): number {
  const m = q.maxRevision ?? Number.MAX_SAFE_INTEGER;
  if (typeof m !== 'number' || Number.isNaN(m) || m < 0) throw new ValidationError(`maxRevision must be a number >= 0, got ${shown(q.maxRevision)}`);
  return m;
}
