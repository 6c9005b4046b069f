/** The state of a StreamAgent stream from its built-in events (shared by `dgent state` and the UI). */
import { applyBuiltin, isBuiltinEvent } from '../agents/stream/builtin-events.js';
import type { EventLog } from '../streams/event-log.js';

/** A stream's state at a revision, as far as its $state/$patch events tell. */
export interface StateAt {
  stream: string;
  /** the revision folded to (0 when before the first event) */
  revision: number;
  time: Date | undefined;
  hasState: boolean;
  state: unknown;
  /** domain events up to `revision` that only the agent's own fold understands */
  notFolded: number;
}

/** Fold `stream` up to `at` (a revision, or the last event at or before a time; default: all). */
export async function stateAt(log: EventLog, stream: string, at?: { revision: number } | { time: Date }): Promise<StateAt> {
  let state: unknown;
  let hasState = false;
  let notFolded = 0;
  let revision = 0;
  let time: Date | undefined;
  const to = at && 'revision' in at ? at.revision : undefined;
  if (to === 0) return { stream, revision: 0, time: undefined, hasState: false, state: undefined, notFolded: 0 };
  for await (const e of log.read(stream, to === undefined ? {} : { toRevision: to })) {
    if (at && 'time' in at && e.time.getTime() > at.time.getTime()) break;
    if (isBuiltinEvent(e)) {
      state = applyBuiltin(state, hasState, e);
      hasState = true;
    } else notFolded++;
    revision = e.revision;
    time = e.time;
  }
  return { stream, revision, time, hasState, state, notFolded };
}
