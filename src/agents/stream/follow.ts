/**
 * A StreamAgent subscription: the log's subscription to one stream, folded into states.
 */
import type { EventLog, RecordedEvent, Subscription } from '../../streams/event-log.js';
import type { Head } from './snapshotter.js';

/** Stops a StreamAgent subscription (resolves once stopped); `ready` resolves once it is live. */
export type StreamUnsubscribe = (() => Promise<void>) & {
  /** resolves when the subscription is live (rejects, and is reported, when it could not start) */
  readonly ready: Promise<void>;
};

/** What {@link followStream} needs from the agent. */
export interface FollowSpec<S> {
  log: EventLog;
  stream: string;
  /** the state to start from and the log position of its event (0 = the beginning) */
  start(): Promise<{ head: Head<S>; position: number }>;
  /** the state after one event */
  step(head: Head<S>, e: RecordedEvent): Head<S>;
  /** deliver a state; returns the head to continue from (its state frozen by the codec) */
  onState(head: Head<S>): Head<S>;
  /** a failure that stopped the subscription */
  report(error: unknown): void;
}

/** Start following a stream; `onClose` runs when the returned function is called. */
export function followStream<S>(spec: FollowSpec<S>, onClose: () => void): StreamUnsubscribe {
  let closed = false;
  let sub: Subscription | undefined;
  const ready = (async () => {
    const { head, position } = await spec.start();
    if (closed) return;
    let cur = head;
    sub = spec.log.subscribe({ stream: spec.stream, fromPosition: position }, (e) => {
      cur = spec.onState(spec.step(cur, e));
    });
    sub.done.catch((e: unknown) => {
      if (!closed) spec.report(e);
    });
  })();
  ready.catch((e: unknown) => spec.report(e));
  const off = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    onClose();
    await ready.catch(() => undefined);
    await sub?.close();
  };
  return Object.assign(off, { ready });
}
