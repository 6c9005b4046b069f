/**
 * Appends of the SQLite log, with group commit.
 *
 * Appends that arrive together (in the same tick, or while a commit is running) share one
 * `BEGIN IMMEDIATE ... COMMIT`, so a burst of N appenders pays for one transaction, not N. Each
 * append still stands alone: it runs in its own SAVEPOINT, re-reads its streams' revisions inside
 * the write lock and checks its ExpectedRevision there, so a conflicting append (or one whose hook
 * throws) is rolled back and rejected while the others of the group commit. Because the revision
 * is read under the write lock, several processes appending to one file are as safe as one.
 */
import type { AppendHook, AppendResult, NewEvent, RecordedEvent } from '../event-log.js';
import { checkExpected, resolveEventIds } from '../validate.js';
import { isBusy, toDgentError, withBusyRetry, type SqliteDatabase } from './connection.js';
import type { EncodedAppend } from './encode.js';
import { HeadCache } from './heads.js';
import { runHooks, type HookOutcome, type SqliteAppendTransaction } from './hooks.js';
import { decode } from '../../core/codec.js';
import type { WriterStatements } from './statements.js';
import { uuidV7 } from '../../core/uuid-v7.js';

const EMPTY_METADATA: Record<string, unknown> = Object.freeze({});

interface Request {
  parts: readonly EncodedAppend[];
  /** resolve with the single part's result rather than an array (saves `append` a promise hop) */
  one: boolean;
  resolve(results: AppendResult | AppendResult[]): void;
  reject(error: unknown): void;
}

/** How one request of a group is undone if it fails. */
type Guard = 'transaction' | 'savepoint' | 'checked';

/** Settings of an {@link AppendWriter}. */
export interface AppendWriterOptions {
  db: SqliteDatabase;
  statements: WriterStatements;
  hooks: readonly AppendHook<SqliteAppendTransaction>[];
  path: string;
  busyTimeoutMs: number;
  /** called after every COMMIT that stored events */
  committed(): void;
}

/** The single writer of one log instance: queues appends and commits them in groups. */
export class AppendWriter {
  private queue: Request[] = [];
  private readonly heads: HeadCache;
  private scheduled = false;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: AppendWriterOptions) {
    this.heads = new HeadCache(o.statements.dataVersion, o.statements.head);
  }

  /** Queue an append to one stream for the next group commit. */
  submitOne(part: EncodedAppend): Promise<AppendResult> {
    return this.submit([part], true) as Promise<AppendResult>;
  }

  /** Queue an append to several streams (all or nothing) for the next group commit. */
  submitMany(parts: readonly EncodedAppend[]): Promise<AppendResult[]> {
    return this.submit(parts, false) as Promise<AppendResult[]>;
  }

  private submit(parts: readonly EncodedAppend[], one: boolean): Promise<AppendResult | AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ parts, one, resolve, reject });
      if (!this.scheduled && !this.running) {
        this.scheduled = true;
        // a microtask later: every append issued in this tick joins the group
        queueMicrotask(() => {
          this.scheduled = false;
          this.running = true;
          this.drain();
        });
      }
    });
  }

  /** Resolves when nothing is queued or being committed. */
  idle(): Promise<void> {
    if (!this.running && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Commit groups until the queue is empty; groups that arrive meanwhile form the next group. */
  private drain(): void {
    while (this.queue.length > 0) {
      const group = this.queue;
      this.queue = [];
      let pending: Promise<void> | undefined;
      try {
        pending = this.commitGroup(group);
      } catch (e) {
        this.abandon(group, e);
      }
      if (pending !== undefined) {
        pending.then(
          () => this.drain(),
          (e: unknown) => {
            this.abandon(group, e);
            this.drain();
          },
        );
        return;
      }
    }
    this.running = false;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** An unexpected failure while committing (a statement of ours threw): fail the group, leave no transaction open. */
  private abandon(group: readonly Request[], e: unknown): void {
    let error = toDgentError(e, this.o.path);
    this.heads.reset();
    try {
      if (this.o.db.inTransaction) this.o.statements.rollback.run();
    } catch (rollbackError) {
      error = new AggregateError([error, rollbackError], 'append failed, and so did the rollback');
    }
    failAll(group, error); // requests already settled ignore this
  }

  /** Runs synchronously unless the lock is busy or a hook is async (then returns a promise). */
  private commitGroup(group: Request[]): Promise<void> | undefined {
    const { statements: s, path } = this.o;
    try {
      s.begin.run();
    } catch (e) {
      if (!isBusy(e)) return void failAll(group, toDgentError(e, path));
      return withBusyRetry(() => s.begin.run(), this.o.busyTimeoutMs, path).then(
        () => {
          // appends that queued up while another process held the lock join this group
          group.push(...this.queue.splice(0));
          this.heads.begin();
          return this.inTransaction(group, 0, []);
        },
        (err: unknown) => failAll(group, err),
      );
    }
    this.heads.begin();
    return this.inTransaction(group, 0, []);
  }

  /**
   * Apply requests `from` onwards inside the open transaction, then commit. A request gets its own
   * SAVEPOINT only when it could fail after inserting (several streams, or hooks); a single-stream
   * append without hooks checks everything before its first insert, so it needs none.
   */
  private inTransaction(group: Request[], from: number, done: Done[]): Promise<void> | undefined {
    const { db, statements: s, hooks } = this.o;
    for (let i = from; i < group.length; i++) {
      const req = group[i]!;
      const withHooks = hooks.length > 0;
      const guard: Guard = group.length === 1 ? 'transaction' : req.parts.length > 1 || withHooks ? 'savepoint' : 'checked';
      if (guard === 'savepoint') s.savepoint.run();
      let results: AppendResult[];
      let outcome: HookOutcome | Promise<HookOutcome>;
      try {
        const applied = this.apply(req.parts, withHooks);
        results = applied.results;
        outcome = applied.recorded.length > 0 ? runHooks(hooks, applied.recorded, db) : NO_HOOKS;
      } catch (e) {
        if (this.undo(group, i, done, guard, e)) continue;
        return;
      }
      if (outcome instanceof Promise) {
        return outcome.then(
          (o) => {
            if (guard === 'savepoint') s.release.run();
            this.heads.requestDone();
            done.push({ req, results, outcome: o });
            return this.inTransaction(group, i + 1, done);
          },
          (e: unknown) => {
            if (this.undo(group, i, done, guard, e)) return this.inTransaction(group, i + 1, done);
            return undefined;
          },
        );
      }
      if (guard === 'savepoint') s.release.run();
      this.heads.requestDone();
      done.push({ req, results, outcome });
    }
    return this.finish(done);
  }

  /** Roll back request `i` after `error`; returns false when the whole transaction is gone. */
  private undo(group: Request[], i: number, done: Done[], guard: Guard, error: unknown): boolean {
    const { db, statements: s, path } = this.o;
    const req = group[i]!;
    const err = toDgentError(error, path);
    if (guard === 'savepoint' && db.inTransaction) {
      s.rollbackTo.run();
      s.release.run();
      this.heads.requestFailed();
      req.reject(err);
      return true;
    }
    if (guard === 'checked' && db.inTransaction && !this.inserted) {
      this.heads.requestFailed();
      req.reject(err); // it failed its checks before inserting anything
      return true;
    }
    // the whole transaction goes: SQLite may already have rolled it back (I/O error, disk full)
    this.heads.reset();
    if (db.inTransaction) s.rollback.run();
    for (const d of done) d.outcome.rolledBack();
    failAll(group, err); // requests rejected earlier ignore the second rejection
    return false;
  }

  private finish(done: Done[]): Promise<void> | undefined {
    const { statements: s, db, path } = this.o;
    if (done.length === 0) {
      s.rollback.run();
      return;
    }
    const settle = (): void => {
      this.heads.groupCommitted();
      for (const d of done) d.req.resolve(d.req.one ? d.results[0]! : d.results);
      for (const d of done) d.outcome.committed();
      this.o.committed();
    };
    const abort = (e: unknown): void => {
      this.heads.reset();
      if (db.inTransaction) s.rollback.run();
      for (const d of done) d.outcome.rolledBack();
      failAll(
        done.map((d) => d.req),
        toDgentError(e, path),
      );
    };
    try {
      s.commit.run();
    } catch (e) {
      if (!isBusy(e) || !db.inTransaction) return void abort(e);
      return withBusyRetry(() => s.commit.run(), this.o.busyTimeoutMs, path).then(settle, abort);
    }
    settle();
    return undefined;
  }

  /** set by {@link apply} once it inserted a row: a failure after that cannot be undone without a savepoint */
  private inserted = false;

  /** Insert one request's events; throws ConcurrencyError / ValidationError before the first insert of a part. */
  private apply(parts: readonly EncodedAppend[], withHooks: boolean): { results: AppendResult[]; recorded: RecordedEvent[] } {
    const s = this.o.statements;
    const time = Date.now();
    const results: AppendResult[] = [];
    const recorded: RecordedEvent[] = [];
    this.inserted = false;
    for (const part of parts) {
      if (part.hasIds) {
        // the rule reads only the ids
        const retry = resolveEventIds(part.stream, part.events as readonly Pick<NewEvent, 'id'>[] as readonly NewEvent[], (id) => {
          const row = s.findId.get(id);
          return row && { stream: row[0], revision: row[1], position: row[2] };
        });
        if (retry) {
          results.push(retry);
          continue;
        }
      }
      const current = this.heads.get(part.stream);
      checkExpected(part.stream, part.expected, current);
      let revision = current;
      let position = 0;
      for (const e of part.events) {
        const id = e.id ?? uuidV7();
        this.inserted = true;
        position = Number(s.insert.run(part.stream, ++revision, id, e.type, e.data, e.metadata, time).lastInsertRowid);
        if (withHooks) {
          const metadata = e.metadata === null ? EMPTY_METADATA : decode<Record<string, unknown>>(e.metadata);
          recorded.push(Object.freeze({ id, stream: part.stream, revision, position, type: e.type, data: e.value, metadata, time: new Date(time) }));
        }
      }
      this.heads.set(part.stream, revision);
      results.push({ revision, position });
    }
    return { results, recorded };
  }
}

interface Done {
  req: Request;
  results: AppendResult[];
  outcome: HookOutcome;
}

const NO_HOOKS: HookOutcome = { committed: () => undefined, rolledBack: () => [] };

function failAll(group: readonly Request[], error: unknown): void {
  for (const r of group) r.reject(error);
}
