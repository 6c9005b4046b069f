/**
 * Atomic checks of the keys a transaction only read (never wrote): the log cannot expect a
 * revision without appending, so on logs whose `onAppend` hooks run inside the append's
 * transaction the Store registers one hook that, for an append carrying a transaction id with
 * registered reads, compares each read key's current revision with the one read, and aborts the
 * append with ConcurrencyError when it moved:
 *
 * - memory: hooks run under the log's mutex, which every append takes;
 * - SQLite: hooks run under the file's write lock, shared with other processes;
 * - PostgreSQL: a hook's plain read would not see another writer's append still in flight, so the
 *   hook first takes that stream's transaction lock, the one every append of the log takes before
 *   it reads the stream's revision (`pg_advisory_xact_lock(streamLockKey, hashtext(stream))`, see
 *   streams/postgres/append-function.ts), then reads the revision in a new statement (a snapshot
 *   taken after the lock was granted, so it sees every append that committed before). Held until
 *   the append commits, the lock keeps every other writer of the read key out until then, in this
 *   process and in any other. It is only tried (`pg_try_advisory_xact_lock`): a read key being
 *   written right now is a conflict at once (the transaction is retried), so two transactions
 *   that read what the other writes can never deadlock. The hook is attached only while a
 *   transaction with such reads is committing: other appends keep the log's hook-free fast path.
 *
 * Elsewhere (logs without hooks: file, Redis, EventStoreDB) those keys are checked just before the
 * append, which leaves a short window (documented).
 */
import { ConcurrencyError } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import type { SqliteAppendTransaction } from '../streams/sqlite/hooks.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { EVENTS_TABLE } from '../streams/sqlite/schema.js';
import type { PostgresAppendTransaction } from '../streams/postgres/append.js';
import { schemaNames } from '../streams/postgres/schema.js';

export interface ReadCheck {
  stream: string;
  key: string;
  expected: number;
}

export class ReadChecks {
  private readonly pending = new Map<string, readonly ReadCheck[]>();
  private readonly detach: (() => void) | undefined;
  /** PostgreSQL: attach the hook while checks are pending (undefined elsewhere) */
  private readonly attach: (() => () => void) | undefined;
  private detachPg: (() => void) | undefined;

  constructor(private readonly log: EventLog) {
    if (isPostgresLog(log)) {
      const n = schemaNames(log.schema);
      const hook = async (events: readonly RecordedEvent[], tx: PostgresAppendTransaction): Promise<void> => {
        for (const c of this.due(events)) {
          const got = await tx.query('SELECT pg_try_advisory_xact_lock($1::int, hashtext($2::text)) AS ok', [n.streamLockKey, c.stream]);
          if (got.rows[0]?.ok !== true) throw new ConcurrencyError(c.expected, Number.NaN, `key ${JSON.stringify(c.key)} (being written by another transaction)`);
          // a new statement: its snapshot is taken after the lock was granted
          const res = await tx.query(`SELECT coalesce((SELECT e.revision FROM ${n.events} e WHERE e.stream = $1 ORDER BY e.revision DESC LIMIT 1), 0) AS r`, [c.stream]);
          const now = Number(res.rows[0]?.r ?? 0);
          if (now !== c.expected) throw new ConcurrencyError(c.expected, now, `key ${JSON.stringify(c.key)}`);
        }
      };
      this.attach = () => log.onAppend(hook);
      this.detach = () => {
        this.detachPg?.();
        this.detachPg = undefined;
      };
    } else if (log instanceof SqliteEventLog) {
      this.detach = log.onAppend((events, tx) => this.check(events, (stream) => revisionIn(tx, stream)));
    } else if (log instanceof MemoryEventLog) {
      // hooks run under the memory log's mutex; revision() reads its state without taking it
      this.detach = log.onAppend((events) => this.verify(this.due(events)));
    }
  }

  /** Whether reads registered with {@link run} are checked inside the append. */
  get atomic(): boolean {
    return this.detach !== undefined;
  }

  /** Compare each check's stream revision now (outside any append) with the one read: ConcurrencyError when it moved. */
  async verify(checks: readonly ReadCheck[]): Promise<void> {
    for (const c of checks) {
      const now = await this.log.revision(c.stream);
      if (now !== c.expected) throw new ConcurrencyError(c.expected, now, `key ${JSON.stringify(c.key)}`);
    }
  }

  /**
   * Run `append` with `checks` registered for transaction `tx` (events carrying `tx` in their
   * metadata): checked inside the append where the log allows ({@link atomic}), else just before it.
   */
  async run<T>(tx: string, checks: readonly ReadCheck[], append: () => Promise<T>): Promise<T> {
    if (checks.length === 0) return append();
    if (!this.atomic) {
      await this.verify(checks);
      return append();
    }
    this.pending.set(tx, checks);
    if (this.attach && !this.detachPg) this.detachPg = this.attach();
    try {
      return await append();
    } finally {
      this.pending.delete(tx);
      if (this.pending.size === 0 && this.detachPg) {
        this.detachPg();
        this.detachPg = undefined;
      }
    }
  }

  private due(events: readonly RecordedEvent[]): ReadCheck[] {
    if (this.pending.size === 0) return [];
    const out: ReadCheck[] = [];
    const txs = new Set<string>();
    for (const e of events) if (typeof e.metadata.tx === 'string') txs.add(e.metadata.tx);
    for (const t of txs) out.push(...(this.pending.get(t) ?? []));
    return out;
  }

  private check(events: readonly RecordedEvent[], revision: (stream: string) => number): void {
    for (const c of this.due(events)) {
      const now = revision(c.stream);
      if (now !== c.expected) throw new ConcurrencyError(c.expected, now, `key ${JSON.stringify(c.key)}`);
    }
  }

  close(): void {
    this.detach?.();
  }
}

/** A PostgresEventLog seen structurally (its class lives behind `dgent/postgres`). */
function isPostgresLog(log: EventLog): log is EventLog & { schema: string; onAppend(hook: (events: readonly RecordedEvent[], tx: PostgresAppendTransaction) => Promise<void>): () => void } {
  const l = log as EventLog & { schema?: unknown; onAppend?: unknown };
  return log.capabilities.supportsInlineProjections && typeof l.schema === 'string' && typeof l.onAppend === 'function' && log.constructor.name.startsWith('Postgres');
}

function revisionIn(tx: SqliteAppendTransaction, stream: string): number {
  const row = tx.db.prepare(`SELECT coalesce(max(revision), 0) AS r FROM ${EVENTS_TABLE} WHERE stream = ?`).get(stream) as { r: number };
  return Number(row.r);
}
