/**
 * Inline `onAppend` hooks of the SQLite log: they run inside the append's write transaction, so a
 * projection can write its view (and checkpoint) with `tx.db` and commit together with the events.
 */
import type { AppendHook, AppendTransaction, RecordedEvent } from '../event-log.js';
import type { SqliteDatabase } from './connection.js';

/** What an `onAppend` hook of {@link SqliteEventLog} receives: the open transaction's connection. */
export interface SqliteAppendTransaction extends AppendTransaction {
  /**
   * The writer connection, inside the append's transaction. Writes made here commit or roll back
   * with the events. Do not COMMIT or ROLLBACK it yourself; nested `db.transaction()` is fine.
   */
  readonly db: SqliteDatabase;
}

/** The outcome callbacks of one append's hooks. */
export interface HookOutcome {
  /** after COMMIT: run the onCommit callbacks (a throwing callback is rethrown asynchronously: the append did succeed) */
  committed(): void;
  /** the transaction did not commit after all: run the onRollback callbacks, newest first */
  rolledBack(): unknown[];
}

const NOTHING: HookOutcome = { committed: () => undefined, rolledBack: () => [] };

function runAll(fns: readonly (() => void)[]): unknown[] {
  const failures: unknown[] = [];
  for (const fn of fns) {
    try {
      fn();
    } catch (e) {
      failures.push(e);
    }
  }
  return failures;
}

/**
 * Run every hook on the events of one append. A throw (or rejection) runs the onRollback callbacks
 * registered so far and rethrows, aborting the append. Returns synchronously when every hook did,
 * so appends without async hooks never wait a microtask inside the transaction.
 */
export function runHooks(
  hooks: readonly AppendHook<SqliteAppendTransaction>[],
  events: readonly RecordedEvent[],
  db: SqliteDatabase,
): HookOutcome | Promise<HookOutcome> {
  if (hooks.length === 0) return NOTHING;
  const commits: (() => void)[] = [];
  const rollbacks: (() => void)[] = [];
  const tx: SqliteAppendTransaction = { db, onCommit: (fn) => void commits.push(fn), onRollback: (fn) => void rollbacks.push(fn) };
  const frozen = Object.freeze([...events]);
  const list = [...hooks];
  const outcome: HookOutcome = {
    committed: () => {
      for (const e of runAll(commits)) queueMicrotask(() => { throw e; });
    },
    rolledBack: () => runAll(rollbacks.slice().reverse()),
  };
  const fail = (err: unknown): never => {
    const failures = outcome.rolledBack();
    if (failures.length > 0) throw new AggregateError([err, ...failures], 'append aborted by an onAppend hook, and an onRollback callback failed too');
    throw err;
  };
  const from = async (i: number, pending: PromiseLike<void>): Promise<HookOutcome> => {
    try {
      await pending;
      for (let j = i + 1; j < list.length; j++) await list[j]!(frozen, tx);
    } catch (err) {
      fail(err);
    }
    return outcome;
  };
  for (let i = 0; i < list.length; i++) {
    let r: void | Promise<void>;
    try {
      r = list[i]!(frozen, tx);
    } catch (err) {
      return fail(err);
    }
    if (r !== undefined && typeof (r as PromiseLike<void>).then === 'function') return from(i, r);
  }
  return outcome;
}
