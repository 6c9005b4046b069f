/**
 * Import into a PostgreSQL log: one transaction per batch on a connection of our own. Positions are
 * reserved the way every append reserves them (under the log's position lock, with the
 * transaction id taken under it: reserveQuerySql), so readers that filter by transaction id never
 * skip imported events; ids, revisions, times and metadata are the source's. Subscribers of other
 * processes see the import at their next poll.
 */
import { encode } from '../../core/codec.js';
import { driverLoadError } from '../../core/drivers.js';
import { ConcurrencyError, ValidationError } from '../../core/errors.js';
import { reserveQuerySql } from '../../streams/postgres/append-function.js';
import { schemaNames } from '../../streams/postgres/schema.js';
import type { EventLog } from '../../streams/event-log.js';
import type { ImportedEvent } from '../jsonl.js';
import type { BatchImporter } from './types.js';

interface PgClient {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  release(destroy?: boolean): void;
}
interface PgPool {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', fn: (e: Error) => void): void;
}

/** An importer writing batches into the PostgreSQL log at `connectionString`, schema `schema`. */
export async function postgresImporter(log: EventLog, connectionString: string, schema = 'dgent'): Promise<BatchImporter> {
  await log.revision('dgent-import'); // creates or upgrades the schema
  let pg: { default?: { Pool: new (o: object) => PgPool }; Pool?: new (o: object) => PgPool };
  try {
    pg = (await import('pg')) as never;
  } catch (e) {
    throw driverLoadError('import into PostgreSQL', 'pg', e);
  }
  const Pool = (pg.default ?? pg).Pool!;
  const pool = new Pool({ connectionString, max: 1, application_name: 'dgent-import' });
  pool.on('error', () => undefined); // an idle client's error surfaces on the next query
  const n = schemaNames(schema);
  const reserve = reserveQuerySql(n, { count: '$1::bigint' });
  const heads = new Map<string, number>();
  const client = await pool.connect();

  async function loadHeads(streams: string[]): Promise<void> {
    const missing = streams.filter((s) => !heads.has(s));
    if (missing.length === 0) return;
    const r = await client.query(`SELECT stream, max(revision) AS r FROM ${n.events} WHERE stream = ANY($1::text[]) GROUP BY stream`, [missing]);
    for (const s of missing) heads.set(s, 0);
    for (const row of r.rows) heads.set(row.stream as string, Number(row.r));
  }

  async function write(batch: readonly ImportedEvent[]): Promise<number> {
    await loadHeads([...new Set(batch.map((e) => e.stream))]);
    const rows: ImportedEvent[] = [];
    const local = new Map<string, number>();
    for (const e of batch) {
      const current = local.get(e.stream) ?? heads.get(e.stream)!;
      if (e.revision <= current) {
        const r = await client.query(`SELECT id FROM ${n.events} WHERE stream = $1 AND revision = $2`, [e.stream, e.revision]);
        if (r.rows[0]?.id === e.id) continue; // a resumed import: the same event is already there
        throw new ConcurrencyError(e.revision - 1, current, `stream ${JSON.stringify(e.stream)} (import of event ${e.id})`);
      }
      if (e.revision !== current + 1) throw new ValidationError(`import: stream ${JSON.stringify(e.stream)} jumps from revision ${current} to ${e.revision} (event ${e.id})`);
      local.set(e.stream, e.revision);
      rows.push(e);
    }
    if (rows.length === 0) return 0;
    await client.query('BEGIN');
    try {
      const first = Number((await client.query(reserve, [rows.length])).rows[0]!.f);
      await client.query(
        `INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
         SELECT $1::bigint + u.k - 1, u.s, u.r, u.i, u.t, u.d::json, u.m::json, u.w, pg_current_xact_id()
         FROM unnest($2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::timestamptz[]) WITH ORDINALITY AS u(s, r, i, t, d, m, w, k)`,
        [
          first,
          rows.map((e) => e.stream),
          rows.map((e) => e.revision),
          rows.map((e) => e.id),
          rows.map((e) => e.type),
          rows.map((e) => e.encoded?.data ?? encode(e.data)),
          rows.map((e) => e.encoded?.metadata ?? encode(e.metadata ?? {})),
          rows.map((e) => e.time.toISOString()),
        ],
      );
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      const err = e as { code?: string; constraint?: string };
      if (err.code === '23505') {
        heads.clear();
        throw new ValidationError(`import: an event id or (stream, revision) of this batch is already in the log (${String(err.constraint)})`);
      }
      throw e;
    }
    for (const [s, r] of local) heads.set(s, r);
    return rows.length;
  }

  return {
    write,
    async close() {
      client.release();
      await pool.end();
    },
  };
}
