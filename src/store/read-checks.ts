/**
 * Atomic checks of the keys a transaction only read (never wrote): the log cannot expect a
 * revision without appending, so on logs whose `onAppend` hooks run inside the append's
 * transaction and under its write lock (memory: the log's mutex; SQLite: the file's write lock,
 * shared with other processes) the Store registers one hook that, for an append carrying a
 * transaction id with registered reads, compares each read key's current revision with the one
 * read, and aborts the append with ConcurrencyError when it moved. Elsewhere (PostgreSQL, where
 * a hook's read does not see other writers' uncommitted appends, and logs without hooks) those
 * keys are checked just before the append, which leaves a short window (documented).
 */
import { ConcurrencyError } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import type { SqliteAppendTransaction } from '../streams/sqlite/hooks.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { EVENTS_TABLE } from '../streams/sqlite/schema.js';

export interface ReadCheck {
  stream: string;
  key: string;
  expected: number;
}

export class ReadChecks {
  private readonly pending = new Map<string, readonly ReadCheck[]>();
  private readonly detach: (() => void) | undefined;

  constructor(private readonly log: EventLog) {
    if (log instanceof SqliteEventLog) {
      this.detach = log.onAppend((events, tx) => this.check(events, (stream) => revisionIn(tx, stream)));
    } else if (log instanceof MemoryEventLog) {
      // hooks run under the memory log's mutex; revision() reads its state without taking it
      this.detach = log.onAppend(async (events) => {
        for (const c of this.due(events)) {
          const now = await log.revision(c.stream);
          if (now !== c.expected) throw new ConcurrencyError(c.expected, now, `key ${JSON.stringify(c.key)}`);
        }
      });
    }
  }

  /** Whether reads registered with {@link run} are checked inside the append. */
  get atomic(): boolean {
    return this.detach !== undefined;
  }

  /** Run `append` with `checks` registered for transaction `tx`. */
  async run<T>(tx: string, checks: readonly ReadCheck[], append: () => Promise<T>): Promise<T> {
    if (checks.length === 0) return append();
    this.pending.set(tx, checks);
    try {
      return await append();
    } finally {
      this.pending.delete(tx);
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

function revisionIn(tx: SqliteAppendTransaction, stream: string): number {
  const row = tx.db.prepare(`SELECT coalesce(max(revision), 0) AS r FROM ${EVENTS_TABLE} WHERE stream = ?`).get(stream) as { r: number };
  return Number(row.r);
}
