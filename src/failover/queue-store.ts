/**
 * Where the write queue of `'primary-then-queue'` keeps its entries and each backend's place:
 * a {@link SqliteQueue} (compacted: entries every backend has are deleted) or, as before, an
 * EventLog (append-only: its queue streams are never compacted).
 *
 * State per queue name: `head` (the last entry's sequence number, never reused), the entries
 * (`seq`, data, cancelled flag) and per backend a cursor (entries up to it are applied or skipped)
 * with, while an apply is in doubt, the `pending` entry and its tokens (see target.ts).
 */
import { ValidationError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { isMultiStreamAppender, type EventLog, type StreamAppend } from '../streams/event-log.js';
import type { Token } from './target.js';

/** A backend's place in the queue. */
export interface QueueCursor {
  cursor: number;
  pending?: { revision: number; tokens: Token[] } | undefined;
}

export interface QueueSnapshot {
  head: number;
  cursors: Map<string, QueueCursor>;
  cancelled: number[];
}

/** One entry read back. */
export interface QueueEntry {
  revision: number;
  data: unknown;
}

/** What the write queue needs from its storage (internal). */
export interface QueueStore {
  load(queue: string, backends: readonly string[]): Promise<QueueSnapshot>;
  /**
   * Append the entry `expectedHead + 1` (ValidationError when another writer moved the head) and,
   * in the same transaction where the storage allows, set the cursors of the backends that
   * already applied it (`done`) or whose apply is in doubt (`pending`).
   */
  append(queue: string, expectedHead: number, data: unknown, done: readonly string[], pending: readonly { backend: string; tokens: Token[] }[]): Promise<number>;
  read(queue: string, from: number, to: number, limit: number): Promise<QueueEntry[]>;
  /** Record, before applying `revision` to `backend`, its tokens (cursor = revision - 1, pending). */
  applying(queue: string, backend: string, revision: number, tokens: Token[]): Promise<void>;
  cancel(queue: string, revision: number): Promise<void>;
  /** Persist these cursors (nothing pending) and drop the entries up to `upTo`, atomically. */
  compact(queue: string, cursors: readonly { backend: string; cursor: number }[], upTo: number): Promise<void>;
  /** Entries kept for `queue` (what compaction bounds). */
  size(queue: string): Promise<number>;
}

/** Duck type of {@link QueueStore}, so that `queue:` takes one or an EventLog. */
export function isQueueStore(x: unknown): x is QueueStore {
  return typeof x === 'object' && x !== null && typeof (x as QueueStore).compact === 'function' && typeof (x as QueueStore).applying === 'function';
}

/** The `queue` option as a QueueStore: a SqliteQueue as is, an EventLog through {@link eventLogQueueStore}. */
export function queueStoreOf(queue: unknown): QueueStore {
  return isQueueStore(queue) ? queue : eventLogQueueStore(queue as EventLog);
}

/**
 * The queue in an EventLog, in the streams `failover:<name>/entries` (revision = sequence number),
 * `/cursor/<backend>` (`applying { revision, tokens }` or `at { cursor }`) and `/cancelled`.
 * An EventLog cannot delete events: `compact` is a no-op and the streams keep growing (use a SqliteQueue).
 */
export function eventLogQueueStore(log: EventLog): QueueStore {
  if (!log || typeof log.append !== 'function' || typeof log.read !== 'function') throw new ValidationError("'primary-then-queue' needs queue: a SqliteQueue (or an EventLog) to keep the queue in");
  const entries = (q: string) => `failover:${q}/entries`;
  const cursor = (q: string, b: string) => `failover:${q}/cursor/${b}`;
  return {
    async load(q, backends) {
      const head = await log.revision(entries(q));
      const cancelled: number[] = [];
      for await (const e of log.read(`failover:${q}/cancelled`)) cancelled.push((e.data as { revision: number }).revision);
      const cursors = new Map<string, QueueCursor>();
      for (const b of backends) {
        const c: QueueCursor = { cursor: 0 };
        for await (const e of log.read(cursor(q, b), { direction: 'backward', limit: 1 })) {
          const d = e.data as { revision?: number; tokens?: Token[]; cursor?: number };
          if (e.type === 'at') c.cursor = d.cursor!;
          else {
            c.cursor = d.revision! - 1;
            c.pending = { revision: d.revision!, tokens: d.tokens! };
          }
        }
        cursors.set(b, c);
      }
      return { head, cursors, cancelled };
    },
    async append(q, expectedHead, data, done, pending) {
      const r = expectedHead + 1;
      const appends: StreamAppend[] = [
        { stream: entries(q), events: [{ type: 'write', data, id: newId() }], expectedRevision: expectedHead },
        ...done.map((b): StreamAppend => ({ stream: cursor(q, b), events: [{ type: 'at', data: { cursor: r } }] })),
        ...pending.map((p): StreamAppend => ({ stream: cursor(q, p.backend), events: [{ type: 'applying', data: { revision: r, tokens: p.tokens } }] })),
      ];
      if (appends.length > 1 && isMultiStreamAppender(log)) await log.appendMany(appends);
      else for (const a of appends) await log.append(a.stream, a.events, a.expectedRevision === undefined ? {} : { expectedRevision: a.expectedRevision });
      return r;
    },
    async read(q, from, to, limit) {
      const out: QueueEntry[] = [];
      for await (const e of log.read(entries(q), { fromRevision: from, toRevision: to, limit })) out.push({ revision: e.revision, data: e.data });
      return out;
    },
    async applying(q, b, revision, tokens) {
      await log.append(cursor(q, b), [{ type: 'applying', data: { revision, tokens } }]);
    },
    async cancel(q, revision) {
      await log.append(`failover:${q}/cancelled`, [{ type: 'cancelled', data: { revision } }]);
    },
    async compact() {
      // an EventLog cannot delete events: the queue streams keep growing
    },
    async size(q) {
      return log.revision(entries(q));
    },
  };
}
