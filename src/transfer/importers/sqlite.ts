/**
 * Import into a SQLite log: rows inserted on a connection of our own, in input order, so the
 * file's rowid positions keep the source's order, with the source's ids, revisions, times and
 * metadata. The log's writer notices the commit (PRAGMA data_version) and re-reads stream heads.
 */
import { encode } from '../../core/codec.js';
import { ConcurrencyError, ValidationError } from '../../core/errors.js';
import { openConnection, withBusyRetry } from '../../streams/sqlite/connection.js';
import { EVENTS_TABLE } from '../../streams/sqlite/schema.js';
import type { SqliteEventLog } from '../../streams/sqlite/sqlite-event-log.js';
import type { ImportedEvent } from '../jsonl.js';
import type { BatchImporter } from './types.js';

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

/** An importer writing batches into `log`'s file. */
export async function sqliteImporter(log: SqliteEventLog): Promise<BatchImporter> {
  await log.revision('dgent-import'); // creates the schema if the file is new
  const db = await openConnection({ path: log.path, synchronous: 'NORMAL', busyTimeoutMs: 5000 } as never, 'writer');
  const head = db.prepare(`SELECT max(revision) FROM ${EVENTS_TABLE} WHERE stream = ?`).pluck();
  const byRevision = db.prepare(`SELECT id FROM ${EVENTS_TABLE} WHERE stream = ? AND revision = ?`).pluck();
  const insert = db.prepare(`INSERT INTO ${EVENTS_TABLE} (stream, revision, id, type, data, metadata, time) VALUES (?, ?, ?, ?, ?, ?, ?)`);
  const heads = new Map<string, number>();
  const write = db.transaction((batch: readonly ImportedEvent[]) => {
    let written = 0;
    for (const e of batch) {
      const current = heads.get(e.stream) ?? ((head.get(e.stream) as number | null) ?? 0);
      if (e.revision <= current) {
        // already there: a resumed import skips what the same event stored; anything else is a conflict
        if (byRevision.get(e.stream, e.revision) === e.id) continue;
        throw new ConcurrencyError(e.revision - 1, current, `stream ${JSON.stringify(e.stream)} (import of event ${e.id})`);
      }
      if (e.revision !== current + 1) throw new ValidationError(`import: stream ${JSON.stringify(e.stream)} jumps from revision ${current} to ${e.revision} (event ${e.id})`);
      const metadata = e.encoded ? (e.encoded.metadata === '{}' ? null : e.encoded.metadata) : e.metadata && hasKeys(e.metadata) ? encode(e.metadata) : null;
      try {
        insert.run(e.stream, e.revision, e.id, e.type, e.encoded?.data ?? encode(e.data), metadata, e.time.getTime());
      } catch (err) {
        if (/UNIQUE constraint failed: .*\.id/.test((err as Error).message)) throw new ValidationError(`import: event id ${e.id} is already in the log under another stream or revision`);
        throw err;
      }
      heads.set(e.stream, e.revision);
      written++;
    }
    return written;
  });
  return {
    async write(batch) {
      try {
        return await withBusyRetry(() => write.immediate(batch), 5000, log.path);
      } catch (e) {
        heads.clear(); // the transaction rolled back: what it remembered is gone
        throw e;
      }
    },
    async close() {
      db.close();
    },
  };
}
