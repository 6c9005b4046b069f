/**
 * Export of a SQLite log without decoding: the rows' data and metadata columns already hold the
 * codec's text, which is what a JSONL line carries, so lines are assembled from the columns (one
 * read transaction: a consistent snapshot, in position order). Byte-identical to eventToLine.
 */
import Database from 'better-sqlite3';
import { EVENTS_TABLE } from '../../streams/sqlite/schema.js';

type Row = [position: number, stream: string, revision: number, id: string, type: string, data: string, metadata: string | null, time: number];

/** The lines of the SQLite log at `path` after `fromPosition`. */
export function* sqliteLines(path: string, fromPosition: number, streamPrefix: string | undefined): Generator<string, void, undefined> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db
      .prepare(`SELECT position, stream, revision, id, type, data, metadata, time FROM ${EVENTS_TABLE} WHERE position > ? ORDER BY position`)
      .raw()
      .iterate(fromPosition) as IterableIterator<Row>;
    for (const [position, stream, revision, id, type, data, metadata, time] of rows) {
      if (streamPrefix !== undefined && !stream.startsWith(streamPrefix)) continue;
      yield `{"id":${JSON.stringify(id)},"stream":${JSON.stringify(stream)},"revision":${revision},"position":${position},"type":${JSON.stringify(type)},"time":"${new Date(time).toISOString()}","data":${data},"metadata":${metadata ?? '{}'}}`;
    }
  } finally {
    db.close();
  }
}
