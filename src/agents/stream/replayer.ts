/**
 * Folding a stream from the nearest known state: the cached head, a snapshot (checked against the
 * log by event id), or the beginning. Snapshots that come due on the way are stored.
 */
import { CorruptionError } from '../../core/errors.js';
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';
import type { ErrorReporter, Head, Snapshotter } from './snapshotter.js';

class SnapshotMismatch extends Error {}

/** What a {@link Replayer} folds with. */
export interface ReplayerOptions<S> {
  log: EventLog;
  stream: string;
  /** the state after one event (checks nothing about revisions: the replayer does) */
  step(state: S, exists: boolean, e: RecordedEvent): S;
  /** the state before the first event */
  zero(): Head<S>;
  /** the latest state the owner has cached, if any */
  cached(): Head<S> | undefined;
  snapshots: Snapshotter<S> | undefined;
  report: ErrorReporter;
}

/** Folds one stream for a StreamAgent. */
export class Replayer<S> {
  constructor(private readonly o: ReplayerOptions<S>) {}

  /**
   * The state at revision `to` (Infinity = the stream's end), folded from the nearest known state
   * at or below `baseMax`. A snapshot that does not match the log is reported and skipped.
   * `onState` sees every state from the base to `to`.
   */
  async materialize(to: number, baseMax = to, onState?: (h: Head<S>) => void): Promise<Head<S>> {
    const snap = this.o.snapshots;
    let useSnapshots = snap !== undefined;
    for (;;) {
      let base = this.o.zero();
      let verify = false;
      const cached = this.o.cached();
      if (cached && cached.revision <= baseMax) base = cached;
      // a cached head is the best start for the stream's end: skip the store round trip
      if (useSnapshots && !(cached && (cached.revision === baseMax || (to === Infinity && cached === base)))) {
        const s = await snap!.latest(baseMax);
        if (s && s.revision > base.revision) [base, verify] = [s, true];
      }
      try {
        return await this.replay(base, verify ? base.eventId : undefined, to, onState);
      } catch (e) {
        if (!(e instanceof SnapshotMismatch)) throw e;
        snap!.forget(base.revision);
        const where = `snapshot of ${JSON.stringify(this.o.stream)} at revision ${base.revision}`;
        this.o.report(new CorruptionError(e.message, where), { operation: 'snapshot-read', stream: this.o.stream, revision: base.revision });
        useSnapshots = false;
      }
    }
  }

  /** Fold from `base` to `to`; with `verifyId`, the event at the base's revision must carry that id. */
  async replay(base: Head<S>, verifyId: string | undefined, to: number, onState?: (h: Head<S>) => void): Promise<Head<S>> {
    let cur = base;
    if (verifyId === undefined) {
      onState?.(cur);
      if (cur.revision >= to) return cur;
    }
    const fromRevision = verifyId === undefined ? cur.revision + 1 : cur.revision;
    let verify = verifyId;
    const snap = this.o.snapshots;
    for await (const e of this.o.log.read(this.o.stream, { fromRevision, toRevision: to === Infinity ? undefined : to })) {
      if (verify !== undefined) {
        // a snapshot of another incarnation of this stream (deleted and re-created) must not be used
        if (e.revision !== cur.revision || e.id !== verify) throw new SnapshotMismatch(`the event at the snapshot's revision is ${e.id}, not ${verify}; snapshot ignored`);
        verify = undefined;
        onState?.(cur);
        continue;
      }
      cur = this.advance(cur, e);
      if (snap?.due(cur.revision)) cur = snap.capture(cur);
      onState?.(cur);
    }
    if (verify !== undefined) throw new SnapshotMismatch(`the stream has no event at the snapshot's revision ${cur.revision}; snapshot ignored`);
    return cur;
  }

  /** The head after one event; the log must hand out revisions without gaps. */
  advance(cur: Head<S>, e: RecordedEvent): Head<S> {
    if (e.revision !== cur.revision + 1) {
      throw new CorruptionError(`expected revision ${cur.revision + 1}, the log returned ${e.revision}`, `stream ${JSON.stringify(this.o.stream)}`);
    }
    const state = this.o.step(cur.state, cur.exists, e);
    return { state, exists: true, revision: e.revision, time: e.time, eventId: e.id };
  }
}
