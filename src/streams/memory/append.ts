/** The parts of a memory append that do not touch the log's state: encoding and inline hooks. */
import { prepare } from '../../core/codec.js';
import { withEventContext } from '../validate.js';
import type { AppendHook, AppendTransaction, ExpectedRevision, NewEvent, RecordedEvent } from '../event-log.js';

/** One stream's events, validated and encoded (data and metadata deeply frozen). */
export interface PreparedAppend {
  stream: string;
  events: readonly (NewEvent & { metadata: Record<string, unknown> })[];
  expected: ExpectedRevision;
  /** some event holds Uint8Array data, which cannot be frozen */
  binary: boolean;
}

/** Events of one stream that passed every check, waiting for the hooks. */
export interface PlannedAppend {
  recorded: RecordedEvent[];
  binary: boolean;
}

/** Encode every event through the codec; a SerializationError (with the field's path) stops the whole append. */
export function prepareAppends(appends: readonly { stream: string; events: readonly NewEvent[]; expected: ExpectedRevision }[]): PreparedAppend[] {
  return appends.map((a) => {
    let binary = false;
    const events = withEventContext(a.stream, a.events, () =>
      a.events.map((e) => {
        const data = prepare(e.data);
        const metadata = prepare(e.metadata ?? {});
        binary ||= data.hasBinary || metadata.hasBinary;
        return { id: e.id, type: e.type, data: data.value, metadata: metadata.value as Record<string, unknown> };
      }),
    );
    return { stream: a.stream, events, expected: a.expected, binary };
  });
}

/**
 * Run the inline hooks on the events of one append. A throw runs the rollbacks registered so far
 * (newest first) and rethrows, aborting the append. Returns the function to call once the events
 * are stored; an onCommit callback that throws is rethrown asynchronously, because the append has
 * already succeeded and must not report failure.
 */
export async function runHooks<Tx extends AppendTransaction>(hooks: readonly AppendHook<Tx>[], events: readonly RecordedEvent[], extend?: (tx: AppendTransaction) => Tx): Promise<() => void> {
  if (hooks.length === 0) return () => undefined;
  const commits: (() => void)[] = [];
  const rollbacks: (() => void)[] = [];
  const base: AppendTransaction = { onCommit: (fn) => void commits.push(fn), onRollback: (fn) => void rollbacks.push(fn) };
  const tx = extend ? extend(base) : (base as Tx);
  const frozen = Object.freeze([...events]);
  try {
    for (const hook of [...hooks]) await hook(frozen, tx);
  } catch (err) {
    const failures: unknown[] = [];
    for (const fn of rollbacks.reverse()) {
      try {
        fn();
      } catch (e) {
        failures.push(e);
      }
    }
    if (failures.length > 0) throw new AggregateError([err, ...failures], 'append aborted by an onAppend hook, and an onRollback callback failed too');
    throw err;
  }
  return () => {
    for (const fn of commits) {
      try {
        fn();
      } catch (e) {
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  };
}
