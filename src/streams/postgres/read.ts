/**
 * Reads. `readAll` pages are gap-safe: each row carries whether its transaction is older than the
 * statement snapshot's xmin, and a page stops at the first row that is not (see append-function.ts
 * for why no earlier position can then still appear).
 */
import { pg } from './pg.js';
import { decode, prepare } from '../../core/codec.js';
import type { RecordedEvent } from '../event-log.js';
import type { ReadWindow } from '../validate.js';
import { mapPgError, type Queryable, type TypeParsers } from './errors.js';
import type { SchemaNames } from './schema.js';

const COLUMNS = `position, stream, revision, id, type, data, metadata, (extract(epoch FROM time) * 1000)::float8 AS ms`;

/**
 * json columns arrive as text and go through the codec's decode: its fast path (no tagged values
 * in the text) freezes the parsed tree in one pass, where pg's JSON.parse followed by fromTree's
 * revive walked every tree twice.
 */
const JSON_OID = 114;
const asText = (v: string): string => v;
const TYPES: TypeParsers = { getTypeParser: (oid, format) => (oid === JSON_OID ? asText : (pg.types.getTypeParser(oid, format as 'text') as (value: string) => unknown)) };

/** The statements of one schema, named so pg prepares them once per connection. */
export interface ReadStatements {
  page: string;
  pageTypes: string;
  pageStream: string;
  forward: string;
  backward: string;
  revision: string;
  prefix: string;
}

/** The statement reading a stream's current revision ($1 the stream; no row when it does not exist). */
export function revisionSql(n: SchemaNames): string {
  return `SELECT revision FROM ${n.events} WHERE stream = $1 ORDER BY revision DESC LIMIT 1`;
}

/** Build the read statements of a schema. */
export function readStatements(n: SchemaNames): ReadStatements {
  const safe = `tx < (SELECT pg_snapshot_xmin(pg_current_snapshot())) AS safe`;
  return {
    page: `SELECT ${COLUMNS}, ${safe} FROM ${n.events} WHERE position > $1 ORDER BY position LIMIT $2`,
    pageTypes: `SELECT ${COLUMNS}, ${safe} FROM ${n.events} WHERE position > $1 AND type = ANY($3::text[]) ORDER BY position LIMIT $2`,
    pageStream: `SELECT ${COLUMNS}, ${safe} FROM ${n.events} WHERE position > $1 AND stream = $3 ORDER BY position LIMIT $2`,
    forward: `SELECT ${COLUMNS} FROM ${n.events} WHERE stream = $1 AND revision >= $2 AND revision <= $3 ORDER BY revision LIMIT $4`,
    backward: `SELECT ${COLUMNS} FROM ${n.events} WHERE stream = $1 AND revision <= $2 AND revision >= $3 ORDER BY revision DESC LIMIT $4`,
    revision: revisionSql(n),
    prefix: n.channel,
  };
}

/**
 * Events of one append share their time: re-use the last frozen Date (freezing one is not free).
 * The cache is keyed by the server's value, which has microseconds (a fraction of a ms) that the
 * Date drops: comparing with `getTime()` would miss every time.
 */
let lastMs: number | undefined;
let lastTime: Date | undefined;
function frozenTime(ms: number): Date {
  if (lastTime === undefined || lastMs !== ms) {
    lastTime = prepare(new Date(ms)).value;
    lastMs = ms;
  }
  return lastTime;
}

/** One decoded row: a deeply frozen RecordedEvent. */
export function toRecorded(row: { position: string | number; stream: string; revision: number; id: string; type: string; data: string; metadata: string; ms: number }): RecordedEvent {
  const where = `event ${row.stream}@${row.revision}`;
  return Object.freeze({
    id: row.id,
    stream: row.stream,
    revision: row.revision,
    position: Number(row.position),
    type: row.type,
    data: decode(row.data, where),
    metadata: decode<Record<string, unknown>>(row.metadata, where),
    time: frozenTime(row.ms),
  });
}

/** A page of the global order: the safe prefix, and whether it stopped at an in-flight transaction. */
export interface Page {
  events: RecordedEvent[];
  /** true when a visible row was held back because an older transaction is still open */
  blocked: boolean;
  /** rows returned by the server (the page is full when this equals the limit) */
  rows: number;
}

/** Read one page after `fromPosition`, filtered by types or stream. */
export async function readPage(db: Queryable, st: ReadStatements, fromPosition: number, limit: number, filter: { types?: readonly string[]; stream?: string }): Promise<Page> {
  let res;
  try {
    if (filter.types) res = await db.query({ name: `${st.prefix}_page_t`, text: st.pageTypes, values: [fromPosition, limit, filter.types], types: TYPES });
    else if (filter.stream !== undefined) res = await db.query({ name: `${st.prefix}_page_s`, text: st.pageStream, values: [fromPosition, limit, filter.stream], types: TYPES });
    else res = await db.query({ name: `${st.prefix}_page`, text: st.page, values: [fromPosition, limit], types: TYPES });
  } catch (e) {
    throw mapPgError(e, 'reading the log');
  }
  const events: RecordedEvent[] = [];
  for (const row of res.rows) {
    if (!row.safe) return { events, blocked: true, rows: res.rows.length };
    events.push(toRecorded(row));
  }
  return { events, blocked: false, rows: res.rows.length };
}

/** Read one page of a stream in the window's direction, starting at `from` (inclusive). */
export async function readStreamPage(db: Queryable, st: ReadStatements, stream: string, w: ReadWindow, from: number, limit: number): Promise<RecordedEvent[]> {
  const forward = w.direction === 'forward';
  const max = 2147483647;
  const values = [stream, Math.min(from, max), Math.min(w.to, max), limit];
  try {
    const res = forward
      ? await db.query({ name: `${st.prefix}_fwd`, text: st.forward, values, types: TYPES })
      : await db.query({ name: `${st.prefix}_bwd`, text: st.backward, values, types: TYPES });
    return res.rows.map(toRecorded);
  } catch (e) {
    throw mapPgError(e, `reading stream ${JSON.stringify(stream)}`);
  }
}
