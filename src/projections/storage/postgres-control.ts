/**
 * The control tables of PostgreSQL views (projection pointer + checkpoints, leases) and their
 * statements. Lease times come from the server's clock (clock_timestamp), so runners on machines
 * with skewed clocks still agree on when a lease expired.
 */
import type { ControlRow } from '../runner/driver.js';
import { fusedDeleteFunctionsSql, hintMissedFunctionSql, inlineMovedFunctionSql } from './postgres-fused.js';

/** The statements of one schema (quoted names embedded; values always bound). */
export function controlSql(schema: string) {
  const q = `"${schema}"`;
  const ctl = `${q}.dgent_projections`;
  const leases = `${q}.dgent_projection_leases`;
  const until = `clock_timestamp() + $3::int * interval '1 millisecond'`;
  return {
    ddl: [
      `CREATE SCHEMA IF NOT EXISTS ${q}`,
      `CREATE TABLE IF NOT EXISTS ${ctl} (name text PRIMARY KEY, generation int NOT NULL, version int NOT NULL, position bigint NOT NULL,
        seen bigint NOT NULL, b_generation int, b_version int, b_position bigint, updated_at timestamptz NOT NULL DEFAULT now())`,
      `CREATE TABLE IF NOT EXISTS ${leases} (name text PRIMARY KEY, owner text NOT NULL, expires_at timestamptz NOT NULL)`,
      inlineMovedFunctionSql(schema),
      hintMissedFunctionSql(schema),
      ...fusedDeleteFunctionsSql(schema),
    ],
    get: `SELECT generation, version, position, seen, b_generation, b_version, b_position FROM ${ctl} WHERE name = $1`,
    getForUpdate: `SELECT generation, version, position, seen, b_generation, b_version, b_position FROM ${ctl} WHERE name = $1 FOR UPDATE`,
    insert: `INSERT INTO ${ctl} (name, generation, version, position, seen) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING`,
    setPosition: `UPDATE ${ctl} SET position = $2, updated_at = now() WHERE name = $1`,
    setBuilding: `UPDATE ${ctl} SET b_position = $2, updated_at = now() WHERE name = $1`,
    begin: `UPDATE ${ctl} SET b_generation = $2, b_version = $3, b_position = 0, updated_at = now() WHERE name = $1`,
    switch: `UPDATE ${ctl} SET generation = b_generation, version = b_version, position = b_position, b_generation = NULL, b_version = NULL, b_position = NULL, updated_at = now() WHERE name = $1`,
    /** inline, one statement for every projection of the append: mark seen, advance those whose version matches; locks the rows until the append commits */
    // rows are locked in name order first, so concurrent appends with several inline projections never deadlock
    inline: `WITH l AS (SELECT name FROM ${ctl} WHERE name = ANY($2::text[]) ORDER BY name FOR UPDATE)
      UPDATE ${ctl} c SET seen = GREATEST(c.seen, $1), position = CASE WHEN c.version = v.version THEN GREATEST(c.position, $1) ELSE c.position END
      FROM unnest($2::text[], $3::int[]) AS v(name, version), l WHERE c.name = v.name AND l.name = v.name RETURNING c.name, c.generation, c.version, c.b_version`,
    acquire: `INSERT INTO ${leases} (name, owner, expires_at) VALUES ($1, $2, ${until})
      ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE ${leases}.owner = excluded.owner OR ${leases}.expires_at <= clock_timestamp()`,
    fence: `UPDATE ${leases} SET expires_at = ${until} WHERE name = $1 AND owner = $2 AND expires_at > clock_timestamp()`,
    release: `DELETE FROM ${leases} WHERE name = $1 AND owner = $2`,
    tables: `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2`,
  };
}

export type ControlSql = ReturnType<typeof controlSql>;

interface Raw {
  generation: number;
  version: number;
  position: string | number;
  seen: string | number;
  b_generation: number | null;
  b_version: number | null;
  b_position: string | number | null;
}

/** A control row as pg returns it (bigint as text) -> ControlRow. */
export function toControl(r: Raw | undefined): ControlRow | undefined {
  if (!r) return undefined;
  return {
    generation: r.generation,
    version: r.version,
    position: Number(r.position),
    seen: Number(r.seen),
    building: r.b_generation === null ? undefined : { generation: r.b_generation, version: r.b_version!, position: Number(r.b_position) },
  };
}
