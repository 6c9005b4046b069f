/**
 * The StreamAgent side of snapshots: when one is due, how it is encoded and stored without making
 * anyone wait, and how a stored one becomes a starting point for a replay.
 */
import { decode, encode, prepare } from '../../core/codec.js';
import type { SnapshotStore } from './snapshot-store.js';

/** A folded state at a revision of the stream. */
export interface Head<S> {
  state: S;
  /** false before the first event when the agent has no initial state */
  exists: boolean;
  revision: number;
  /** time of the event at `revision` (undefined at revision 0) */
  time: Date | undefined;
  /** id of the event at `revision` (undefined at revision 0) */
  eventId: string | undefined;
}

/** Where a failure that must not fail the caller's operation happened. */
export interface StreamAgentErrorContext {
  operation: 'snapshot-read' | 'snapshot-write' | 'subscribe';
  stream: string;
  revision?: number | undefined;
}

/** Reports errors that are not the caller's operation's own (snapshot I/O, subscriptions). */
export type ErrorReporter = (error: unknown, context: StreamAgentErrorContext) => void;

/** Decides, writes and reads one stream's snapshots. Writes run in the background; `flush()` waits for them. */
export class Snapshotter<S> {
  private readonly pending = new Set<Promise<void>>();
  /** revisions known to hold a snapshot of this version: not written again by this instance */
  private readonly known = new Set<number>();

  constructor(
    readonly store: SnapshotStore,
    private readonly stream: string,
    private readonly version: string,
    private readonly every: number,
    private readonly report: ErrorReporter,
  ) {}

  /** True when the state at `revision` should be stored. */
  due(revision: number): boolean {
    return revision % this.every === 0 && !this.known.has(revision);
  }

  /**
   * Encode the state now (states are immutable, but a bad fold result must be caught here) and
   * store it in the background. Returns the head with the frozen, codec-trusted copy of the state,
   * so that the next snapshot only walks what changed since.
   */
  capture(head: Head<S>): Head<S> {
    let state: S;
    let text: string;
    try {
      state = prepare(head.state).value;
      text = encode(state);
    } catch (e) {
      this.report(e, { operation: 'snapshot-write', stream: this.stream, revision: head.revision });
      return head;
    }
    this.known.add(head.revision);
    const record = { stream: this.stream, revision: head.revision, version: this.version, time: head.time!, eventId: head.eventId!, state: text };
    const p: Promise<void> = Promise.resolve()
      .then(() => this.store.put(record))
      .catch((e: unknown) => {
        this.known.delete(head.revision);
        this.report(e, { operation: 'snapshot-write', stream: this.stream, revision: head.revision });
      })
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
    return { ...head, state };
  }

  /**
   * The stored snapshot at or below `maxRevision`, decoded. A store or decode failure is reported
   * and answered with undefined: the caller replays from the log instead.
   */
  async latest(maxRevision: number): Promise<Head<S> | undefined> {
    try {
      const rec = await this.store.get(this.stream, { version: this.version, maxRevision });
      if (!rec) return undefined;
      const state = decode<S>(rec.state, `snapshot of ${JSON.stringify(this.stream)} at revision ${rec.revision}`);
      this.known.add(rec.revision);
      return { state, exists: true, revision: rec.revision, time: rec.time, eventId: rec.eventId };
    } catch (e) {
      this.report(e, { operation: 'snapshot-read', stream: this.stream });
      return undefined;
    }
  }

  /** A snapshot turned out not to match the log: forget that it was there. */
  forget(revision: number): void {
    this.known.delete(revision);
  }

  /** Resolves when every snapshot write started so far has finished (failures are reported, not thrown). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Delete every snapshot of the stream (after the writes in flight). Returns how many. */
  async deleteAll(): Promise<number> {
    await this.flush();
    this.known.clear();
    return this.store.delete(this.stream);
  }
}
