/**
 * Writes of a PostgreSQL view batch queued and sent together: `defer` queues a statement, and the
 * queue goes to the server as ONE statement (each queued write a data-modifying CTE) before the
 * next `query` and when the batch ends. An inline append with the three keyed views sent one
 * round trip per view write (BEGIN, append, control, kv, versions, audit, COMMIT: 7); with the
 * views' writes queued it sends 5. Queued writes share one snapshot, so a write that a later
 * one depends on goes through `query` (which sends the queue first, keeping the order).
 */
import { statementName } from '../../streams/postgres/statement-names.js';
import type { Queryable } from '../../streams/postgres/errors.js';

/** See the file comment. */
export class StatementBatch {
  private parts: { text: string; values: readonly unknown[] }[] = [];

  constructor(private readonly c: Queryable) {}

  /** Queue a write (its `$n` placeholders are renumbered when combined; never `$<digits>` in literals). */
  defer(text: string, values: readonly unknown[] = []): void {
    this.parts.push({ text, values });
  }

  /** Send the queue, then `text`. */
  async query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }> {
    await this.flush();
    return this.c.query(text, values);
  }

  /** Send the queued writes, as one statement. */
  async flush(): Promise<void> {
    const parts = this.parts;
    if (parts.length === 0) return;
    this.parts = [];
    if (parts.length === 1) {
      await this.c.query(named(parts[0]!.text, [...parts[0]!.values]));
      return;
    }
    const values: unknown[] = [];
    const ctes = parts.map((p, i) => {
      const offset = values.length;
      values.push(...p.values);
      return `w${i} AS (${p.text.replace(/\$(\d+)/g, (_, n: string) => `$${Number(n) + offset}`)})`;
    });
    await this.c.query(named(`WITH ${ctes.join(',\n')} SELECT 1`, values));
  }
}

/**
 * A named (server-side prepared) statement of `text`: the same views' writes recur on every
 * append, and parsing and planning the combined statement anew each time cost more than a round
 * trip. The name is the text's hash, so one text has one name on every connection.
 */
export function named(text: string, values: unknown[]): { name: string; text: string; values: unknown[] } {
  return { name: statementName('dgent_v', text), text, values };
}
