/**
 * The tables of a PostgreSQL event log, created on first use. Creation is idempotent and safe when
 * several processes start at once: it runs under a transaction-scoped advisory lock and is skipped
 * when the schema is already at the current version.
 */
import { crc32 } from '@node-rs/crc32';
import { InvalidKeyError, ValidationError } from '../../core/errors.js';
import { appendEventFunctionSql, appendFunctionSql, appendOneFunctionSql, appendSetFunctionSql } from './append-function.js';
import type { Queryable } from './errors.js';

/** Bump when the DDL below changes; a schema at another version is upgraded under the lock. */
export const SCHEMA_VERSION = 10;

/** The quoted, ready-to-embed names of one log's objects. */
export interface SchemaNames {
  schema: string;
  events: string;
  meta: string;
  fn: string;
  /** the single-append function */
  fnOne: string;
  /** the set-based batch function (distinct streams, generated ids) */
  fnSet: string;
  /** the single-event function (one event, generated id) */
  fnEvent: string;
  /** the set-based batch function returning one bigint array (version 8) */
  fnSetArray: string;
  /** the sequence as a string literal body for nextval('...') */
  seqText: string;
  channel: string;
  /** the advisory lock keys of the position critical section (int4, int4) */
  lockKeys: readonly [number, number];
  /** first key of the per-stream transaction locks (the second is hashtext(stream)) */
  streamLockKey: number;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * Validate a schema name: lower-case letters, digits and `_`, starting with a letter or `_`, at
 * most 48 characters (the NOTIFY channel adds a prefix within PostgreSQL's 63), not `pg_*`.
 */
export function validateSchemaName(schema: unknown): string {
  if (typeof schema !== 'string' || !IDENTIFIER.test(schema)) {
    throw new InvalidKeyError(schema, 'schema must match /^[a-z_][a-z0-9_]{0,47}$/ (lower-case letters, digits, _)');
  }
  if (schema.startsWith('pg_') || schema === 'information_schema') throw new InvalidKeyError(schema, 'schema names pg_* and information_schema are reserved by PostgreSQL');
  return schema;
}

/** Names of the objects of a (validated) schema. */
export function schemaNames(schema: string): SchemaNames {
  const q = `"${schema}"`;
  return {
    schema: q,
    events: `${q}.events`,
    meta: `${q}.dgent_meta`,
    fn: `${q}.append_batch`,
    fnOne: `${q}.append_one`,
    fnSet: `${q}.append_set`,
    fnEvent: `${q}.append_event`,
    fnSetArray: `${q}.append_set_array`,
    seqText: `${q}.positions`,
    channel: `dgent_${schema}`,
    // 'dgnt' and a hash of the schema: distinct logs in one database do not contend
    lockKeys: [0x64676e74 | 0, crc32(`dgent:${schema}`) | 0],
    streamLockKey: (crc32(`dgent:${schema}`) ^ 2) | 0,
  };
}

function ddl(n: SchemaNames): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${n.schema}`,
    `CREATE TABLE IF NOT EXISTS ${n.meta} (version integer NOT NULL)`,
    `CREATE SEQUENCE IF NOT EXISTS ${n.seqText}`,
    // Up to version 5 a separate streams table held each stream's revision; it cost an extra
    // heap row and index entry per append (~200 us of a ~1 ms append). Since version 6 the events
    // table's unique (stream, revision) index is the revision (its last entry) and the final guard
    // against two writers taking the same revision. An old streams table is left in place, unused:
    // it holds nothing the events table does not (both were written in the same transaction).
    // json, not jsonb: the codec's text round-trips exactly (key order, \\u0000); cast in queries.
    // stream and id compare bytewise (COLLATE "C"): they are only ever matched for equality, and
    // the database's default collation would compare every index key through the locale
    // (strcoll); tables created before version 8 keep the collation they were created with.
    `CREATE TABLE IF NOT EXISTS ${n.events} (
      position bigint PRIMARY KEY,
      stream text COLLATE "C" NOT NULL,
      revision integer NOT NULL,
      id text COLLATE "C" NOT NULL UNIQUE,
      type text NOT NULL,
      data json NOT NULL,
      metadata json NOT NULL,
      time timestamptz NOT NULL,
      tx xid8 NOT NULL,
      UNIQUE (stream, revision)
    )`,
    appendFunctionSql(n),
    appendOneFunctionSql(n),
    // version 7: the set-based batch function (versions 6 -> 7 only add it; CREATE OR REPLACE is idempotent)
    appendSetFunctionSql(n),
    // version 8: the single-event function and the array form of append_set (7 -> 8 only adds them)
    // version 9: the functions no longer NOTIFY; the statement calling them queues it when the
    // Notifier says so (at most one append per notifyIntervalMs). 8 -> 9 only replaces their bodies.
    // A process still running version 8 code after another upgraded the schema keeps working, but
    // its appends through these functions then wake other processes' subscribers only at their
    // next poll, until it is restarted with this code.
    // version 10: the batch statements also take an event's data / metadata as a JSON string (fields
    // dx / mx) when its text holds an escape their JSON functions cannot process (\\u0000, lone
    // surrogates), so batches holding such values append. 9 -> 10 only replaces bodies; a process
    // still running version 9 code never sends dx / mx, and the new bodies read what it sends.
    appendEventFunctionSql(n),
    appendSetFunctionSql(n, 'array'),
  ];
}

/** Create or upgrade the schema (one transaction, serialised by an advisory lock). */
export async function ensureSchema(client: Queryable, n: SchemaNames): Promise<void> {
  const exists = await client.query(`SELECT to_regclass($1) AS t`, [`${n.meta}`]);
  if (exists.rows[0]?.t) {
    const v = await client.query(`SELECT max(version) AS v FROM ${n.meta}`);
    if (v.rows[0]?.v === SCHEMA_VERSION) return;
  }
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [n.lockKeys[0], n.lockKeys[1] ^ 1]);
    const again = await client.query(`SELECT to_regclass($1) AS t`, [`${n.meta}`]);
    const current = again.rows[0]?.t ? (await client.query(`SELECT max(version) AS v FROM ${n.meta}`)).rows[0]?.v : undefined;
    // a newer process upgraded this schema: running our older DDL would undo its upgrade under it
    if (typeof current === 'number' && current > SCHEMA_VERSION) {
      throw new ValidationError(`schema ${n.schema} is at version ${current}, newer than this dgent's ${SCHEMA_VERSION}: upgrade dgent in this process`);
    }
    if (current !== SCHEMA_VERSION) {
      for (const statement of ddl(n)) await client.query(statement);
      await client.query(`DELETE FROM ${n.meta}`);
      await client.query(`INSERT INTO ${n.meta} (version) VALUES ($1)`, [SCHEMA_VERSION]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined); // the connection may be gone; the original error is what matters
    throw e;
  }
}
