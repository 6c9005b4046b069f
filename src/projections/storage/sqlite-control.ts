/**
 * The control tables of SQLite views (projection pointer + checkpoints, leases) and their
 * statements, prepared once per connection.
 */
import type { SqliteStatement } from '../../streams/sqlite/driver-types.js';
import type { SqliteDatabase } from '../../streams/sqlite/connection.js';

type Statement = SqliteStatement;
type Names = 'get' | 'insert' | 'setPosition' | 'setBuilding' | 'begin' | 'switch' | 'inline' | 'acquire' | 'fence' | 'release' | 'tables';
/** The prepared statements of one connection. */
export type ControlStatements = Record<Names, Statement>;
import type { ControlRow } from '../runner/driver.js';

export const CONTROL_DDL = `
CREATE TABLE IF NOT EXISTS dgent_projections (
  name TEXT PRIMARY KEY, generation INTEGER NOT NULL, version INTEGER NOT NULL, position INTEGER NOT NULL,
  seen INTEGER NOT NULL, b_generation INTEGER, b_version INTEGER, b_position INTEGER, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dgent_projection_leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);`;

interface Raw {
  generation: number;
  version: number;
  position: number;
  seen: number;
  b_generation: number | null;
  b_version: number | null;
  b_position: number | null;
}

/** A control row as stored -> ControlRow. */
export function toControl(r: Raw | undefined): ControlRow | undefined {
  if (!r) return undefined;
  return {
    generation: r.generation,
    version: r.version,
    position: r.position,
    seen: r.seen,
    building: r.b_generation === null ? undefined : { generation: r.b_generation, version: r.b_version!, position: r.b_position! },
  };
}

/** Prepare the control statements on a connection. */
export function controlStatements(db: SqliteDatabase): ControlStatements {
  const p = (sql: string): Statement => db.prepare(sql);
  return {
    get: p('SELECT generation, version, position, seen, b_generation, b_version, b_position FROM dgent_projections WHERE name = ?'),
    insert: p('INSERT INTO dgent_projections (name, generation, version, position, seen, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING'),
    setPosition: p('UPDATE dgent_projections SET position = ?, updated_at = ? WHERE name = ?'),
    setBuilding: p('UPDATE dgent_projections SET b_position = ?, updated_at = ? WHERE name = ?'),
    begin: p('UPDATE dgent_projections SET b_generation = ?, b_version = ?, b_position = 0, updated_at = ? WHERE name = ?'),
    switch: p('UPDATE dgent_projections SET generation = b_generation, version = b_version, position = b_position, b_generation = NULL, b_version = NULL, b_position = NULL, updated_at = ? WHERE name = ?'),
    /**
     * inline, one statement per projection and append: mark seen, advance the active checkpoint when
     * the generation's version is the code's (the append rolls both back if a projection throws);
     * returns the active generation and version. (position, code version, position, name)
     */
    inline: p('UPDATE dgent_projections SET seen = max(seen, ?), position = CASE WHEN version = ? THEN max(position, ?) ELSE position END WHERE name = ? RETURNING generation, version, b_version'),
    acquire: p(`INSERT INTO dgent_projection_leases (name, owner, expires_at) VALUES (?, ?, ?)
      ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
      WHERE dgent_projection_leases.owner = excluded.owner OR dgent_projection_leases.expires_at <= ?`),
    fence: p('UPDATE dgent_projection_leases SET expires_at = ? WHERE name = ? AND owner = ? AND expires_at > ?'),
    release: p('DELETE FROM dgent_projection_leases WHERE name = ? AND owner = ?'),
    tables: p("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ? ESCAPE '\\'"),
  };
}


const cache = new WeakMap<SqliteDatabase, ControlStatements>();

/** The statements of `db`, prepared on first use (the control tables must exist). */
export function statementsOf(db: SqliteDatabase): ControlStatements {
  let s = cache.get(db);
  if (!s) cache.set(db, (s = controlStatements(db)));
  return s;
}
