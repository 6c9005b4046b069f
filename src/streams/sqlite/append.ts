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
import { encodePrepared, prepare } from '../../core/codec.js';
import { newId } from '../../core/ids.js';
import type { AppendHook, AppendResult, ExpectedRevision, NewEvent, RecordedEvent } from '../event-log.js';
import { checkExpected, resolveEventIds, validateEvents, validateExpected, validateName } from '../validate.js';
import { isBusy, toDgentError, withBusyRetry, type SqliteDatabase } from './connection.js';
import { runHooks, type HookOutcome, type SqliteAppendTransaction } from './hooks.js';
import type { WriterStatements } from './statements.js';

const EMPTY_METADATA: Record<string, unknown> = prepare({}).value;

/** One event, validated and encoded outside the write lock. */
interface EncodedEvent {
  id: string | undefined;
  type: string;
  data: unknown;
  dataText: string;
  metadata: Record<string, unknown>;
  /** null for empty metadata (most events): nothing to store or parse */
  metadataText: string | null;
}

/** One stream's part of an append, ready for the transaction. */
export interface EncodedAppend {
  stream: string;
  expected: ExpectedRevision;
  events: EncodedEvent[];
  /** some event carries a caller-given id: look ids up for the idempotent-retry rule */
  hasIds: boolean;
}

/** Validate and encode one stream's append (throws InvalidKeyError, ValidationError, SerializationError). */
export function encodeAppend(stream: unknown, events: unknown, expectedRevision: unknown): EncodedAppend {
  const name = validateName(stream, 'stream');
  const valid = validateEvents(events);
  const expected = validateExpected(expectedRevision);
  let hasIds = false;
  const encoded = valid.map((e: NewEvent): EncodedEvent => {
    const data = prepare(e.data).value;
    let metadata = EMPTY_METADATA;
    let metadataText: string | null = null;
    if (e.metadata !== undefined) {
      let any = false;
      for (const _ in e.metadata) {
        any = true;
        break;
      }
      if (any || Object.getOwnPropertySymbols(e.metadata).length > 0) {
        metadata = prepare(e.metadata).value;
        metadataText = encodePrepared(metadata);
      }
    }
    if (e.id !== undefined) hasIds = true;
    return { id: e.id, type: e.type, data, dataText: encodePrepared(data), metadata, metadataText };
  });
  return { stream: name, expected, events: encoded, hasIds };
}

interface Request {
  parts: readonly EncodedAppend[];
  resolve(results: AppendResult[]): void;
  reject(error: unknown): void;
}

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
  private scheduled = false;
  private running = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: AppendWriterOptions) {}

  /** Queue an append (one or several stream parts, all or nothing) for the next group commit. */
  submit(parts: readonly EncodedAppend[]): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ parts, resolve, reject });
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
        () => this.inTransaction(group, 0, []),
        (err: unknown) => failAll(group, err),
      );
    }
    return this.inTransaction(group, 0, []);
  }

  /** Apply requests `from` onwards inside the open transaction, then commit. */
  private inTransaction(group: Request[], from: number, done: Done[]): Promise<void> | undefined {
    const { db, statements: s } = this.o;
    const single = group.length === 1;
    for (let i = from; i < group.length; i++) {
      const req = group[i]!;
      if (!single) s.savepoint.run();
      let results: AppendResult[];
      let outcome: HookOutcome | Promise<HookOutcome>;
      try {
        const applied = this.apply(req.parts);
        results = applied.results;
        outcome = applied.recorded.length > 0 ? runHooks(this.o.hooks, applied.recorded, db) : NO_HOOKS;
      } catch (e) {
        if (this.undo(group, i, done, single, e)) continue;
        return;
      }
      if (outcome instanceof Promise) {
        return outcome.then(
          (o) => {
            if (!single) s.release.run();
            done.push({ req, results, outcome: o });
            return this.inTransaction(group, i + 1, done);
          },
          (e: unknown) => {
            if (this.undo(group, i, done, single, e)) return this.inTransaction(group, i + 1, done);
            return undefined;
          },
        );
      }
      if (!single) s.release.run();
      done.push({ req, results, outcome });
    }
    return this.finish(done);
  }

  /** Roll back request `i` after `error`; returns false when the whole transaction is gone. */
  private undo(group: Request[], i: number, done: Done[], single: boolean, error: unknown): boolean {
    const { db, statements: s, path } = this.o;
    const req = group[i]!;
    if (!db.inTransaction) {
      // SQLite rolled the whole transaction back itself (I/O error, disk full): nothing was stored
      const err = toDgentError(error, path);
      for (const d of done) d.outcome.rolledBack();
      failAll(group, err); // requests rejected earlier ignore the second rejection
      return false;
    }
    if (single) {
      s.rollback.run();
      req.reject(toDgentError(error, path));
      return false;
    }
    s.rollbackTo.run();
    s.release.run();
    req.reject(toDgentError(error, path));
    return true;
  }

  private finish(done: Done[]): Promise<void> | undefined {
    const { statements: s, db, path } = this.o;
    if (done.length === 0) {
      s.rollback.run();
      return;
    }
    const settle = (): void => {
      for (const d of done) d.req.resolve(d.results);
      for (const d of done) d.outcome.committed();
      this.o.committed();
    };
    const abort = (e: unknown): void => {
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

  /** Insert one request's events; throws ConcurrencyError / ValidationError before anything of it is kept. */
  private apply(parts: readonly EncodedAppend[]): { results: AppendResult[]; recorded: RecordedEvent[] } {
    const s = this.o.statements;
    const wantRecorded = this.o.hooks.length > 0;
    const time = Date.now();
    const results: AppendResult[] = [];
    const recorded: RecordedEvent[] = [];
    for (const part of parts) {
      if (part.hasIds) {
        const retry = resolveEventIds(part.stream, part.events, (id) => {
          const row = s.findId.get(id);
          return row && { stream: row[0], revision: row[1], position: row[2] };
        });
        if (retry) {
          results.push(retry);
          continue;
        }
      }
      const current = s.head.get(part.stream) ?? 0;
      checkExpected(part.stream, part.expected, current);
      let revision = current;
      let position = 0;
      for (const e of part.events) {
        const id = e.id ?? newId();
        position = Number(s.insert.run(part.stream, ++revision, id, e.type, e.dataText, e.metadataText, time).lastInsertRowid);
        if (wantRecorded) {
          recorded.push(Object.freeze({ id, stream: part.stream, revision, position, type: e.type, data: e.data, metadata: e.metadata, time: new Date(time) }));
        }
      }
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
