/**
 * The last step of an inline rebuild on PostgreSQL: inside the switch transaction, which holds the
 * projection's control row (every inline hook locks it before its append commits), fold the
 * events committed since the shadow's checkpoint, read straight from the log's events table of
 * the same schema. The log's gap-safe readAll cannot be used here: appends blocked on the row hold
 * reserved positions, and readAll would wait for them while they wait for us. A plain
 * READ COMMITTED read is complete here: no append that runs the hook can commit while we hold the
 * row, and the ones blocked on it fold into the new generation once it is switched.
 */
import type { RecordedEvent } from '../../streams/event-log.js';
import type { Queryable } from '../../streams/postgres/errors.js';
import { toRecorded } from '../../streams/postgres/read.js';
import { handlesType, type Projection } from '../projection.js';

const PAGE = 1000;

/** Fold committed events after `from` with `apply` (handled ones only); returns the last position read. */
export async function foldCommittedTail(c: Queryable, schema: string, from: number, apply: (events: readonly RecordedEvent[]) => void | Promise<void>, projection: Projection<any>): Promise<number> {
  let position = from;
  for (;;) {
    const { rows } = await c.query(
      `SELECT position, stream, revision, id, type, data::text AS data, metadata::text AS metadata, (extract(epoch FROM time) * 1000)::float8 AS ms
       FROM "${schema}".events WHERE position > $1 ORDER BY position LIMIT ${PAGE}`,
      [position],
    );
    const events = rows.map(toRecorded);
    const handled = events.filter((e) => handlesType(projection, e.type));
    if (handled.length > 0) await apply(handled);
    if (events.length > 0) position = events[events.length - 1]!.position;
    if (rows.length < PAGE) return position;
  }
}
