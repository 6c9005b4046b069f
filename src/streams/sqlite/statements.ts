/**
 * Every SQL statement of the SQLite log, prepared once per connection. Values are always bound
 * parameters: stream names, types and ids never become SQL text.
 */
import type { SqliteStatement as Statement } from './driver-types.js';
import type { SqliteDatabase } from './connection.js';
import { EVENTS_TABLE as T } from './schema.js';

/** Column order of every row the readers get (raw mode: arrays, not objects). */
export const COLUMNS = 'position, stream, revision, id, type, data, metadata, time';

/** A row in {@link COLUMNS} order. */
export type EventRow = [position: number, stream: string, revision: number, id: string, type: string, data: string, metadata: string | null, time: number];

/** Statements of the writer connection. */
export interface WriterStatements {
  begin: Statement;
  commit: Statement;
  rollback: Statement;
  savepoint: Statement;
  release: Statement;
  rollbackTo: Statement;
  /** current revision of a stream (undefined when it has no events) */
  head: Statement<[string], number>;
  /** changes whenever another connection commits to the file */
  dataVersion: Statement<[], number>;
  insert: Statement<[string, number, string, string, string, string | null, number]>;
  /** where an id is stored: [stream, revision, position] */
  findId: Statement<[string], [string, number, number]>;
}

/** Prepare the writer's statements. */
export function prepareWriter(db: SqliteDatabase): WriterStatements {
  return {
    begin: db.prepare('BEGIN IMMEDIATE'),
    commit: db.prepare('COMMIT'),
    rollback: db.prepare('ROLLBACK'),
    savepoint: db.prepare('SAVEPOINT dgent_append'),
    release: db.prepare('RELEASE dgent_append'),
    rollbackTo: db.prepare('ROLLBACK TO dgent_append'),
    head: db.prepare<[string], number>(`SELECT revision FROM ${T} WHERE stream = ? ORDER BY revision DESC LIMIT 1`).pluck(),
    dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
    insert: db.prepare(`INSERT INTO ${T} (stream, revision, id, type, data, metadata, time) VALUES (?, ?, ?, ?, ?, ?, ?)`),
    findId: db.prepare<[string], [string, number, number]>(`SELECT stream, revision, position FROM ${T} WHERE id = ?`).raw(),
  };
}

/** Statements of the reader connection. */
export interface ReaderStatements {
  head: Statement<[string], number>;
  maxPosition: Statement<[], number | null>;
  /** stream, revision >= from and <= to, ascending, limit */
  forward: Statement<[string, number, number, number], EventRow>;
  /** stream, revision <= from and >= to, descending, limit */
  backward: Statement<[string, number, number, number], EventRow>;
  /** position > after, ascending, limit */
  all: Statement<[number, number], EventRow>;
}

/** Prepare the reader's statements. */
export function prepareReader(db: SqliteDatabase): ReaderStatements {
  return {
    head: db.prepare<[string], number>(`SELECT revision FROM ${T} WHERE stream = ? ORDER BY revision DESC LIMIT 1`).pluck(),
    maxPosition: db.prepare<[], number | null>(`SELECT max(position) FROM ${T}`).pluck(),
    forward: db.prepare<[string, number, number, number], EventRow>(`SELECT ${COLUMNS} FROM ${T} WHERE stream = ? AND revision >= ? AND revision <= ? ORDER BY revision LIMIT ?`).raw(),
    backward: db.prepare<[string, number, number, number], EventRow>(`SELECT ${COLUMNS} FROM ${T} WHERE stream = ? AND revision <= ? AND revision >= ? ORDER BY revision DESC LIMIT ?`).raw(),
    all: db.prepare<[number, number], EventRow>(`SELECT ${COLUMNS} FROM ${T} WHERE position > ? ORDER BY position LIMIT ?`).raw(),
  };
}
