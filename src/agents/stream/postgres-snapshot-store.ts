/**
 * PostgresSnapshotStore: StreamAgent snapshots in a PostgreSQL table (`<schema>.snapshots` by
 * default: beside a PostgresEventLog's tables, never one of them), so that an agent on a
 * PostgreSQL log keeps its snapshots on the same server and `dgent rebuild-snapshots` can rebuild
 * them. The table is created on first use (IF NOT EXISTS: safe when several processes start at
 * once); dropping it loses nothing but speed. Values are bound, identifiers validated.
 *
 * @example
 * ```ts
 * import { PostgresEventLog, PostgresSnapshotStore } from 'dgent/postgres';
 * const url = 'postgres://postgres@127.0.0.1:5432/app';
 * const log = new PostgresEventLog({ connectionString: url });
 * const snapshots = new PostgresSnapshotStore({ connectionString: url });
 * ```
 */
import { ClosedError, ValidationError } from '../../core/errors.js';
import { pg } from '../../streams/postgres/pg.js';
import { createOwnedPool, type PoolClass } from '../../streams/postgres/pool.js';
import { mapPgError, type Queryable } from '../../streams/postgres/errors.js';
import { validateSchemaName } from '../../streams/postgres/schema.js';
import type { QueryWatchdog } from '../../streams/postgres/watchdog.js';
import { maxRevisionOf, validateSnapshot, type SnapshotInfo, type SnapshotQuery, type SnapshotRecord, type SnapshotStore } from './snapshot-store.js';

/** A pg pool (or anything with its `query`, and `end` when the store owns it). */
export interface SnapshotPool extends Queryable {
  end(): Promise<void>;
}

/** Options of {@link PostgresSnapshotStore}: a pool you own, or a connection string (the store then owns its pool). */
export type PostgresSnapshotStoreOptions = ({ pool: SnapshotPool; connectionString?: undefined } | { connectionString: string; pool?: undefined }) & {
  /** schema of the table (default `dgent`, the event log's default); created if missing */
  schema?: string | undefined;
  /** table name (default `snapshots`); letters, digits and `_` only */
  table?: string | undefined;
};

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

interface Row {
  stream: string;
  revision: number;
  version: string;
  time: string;
  event_id: string;
  state?: string;
}

/** A {@link SnapshotStore} in a PostgreSQL table; see the file comment. */
export class PostgresSnapshotStore implements SnapshotStore {
  private readonly pool: SnapshotPool;
  private readonly owned: boolean;
  private readonly watchdog: QueryWatchdog | undefined;
  private readonly t: string;
  private readonly schema: string;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(options: PostgresSnapshotStoreOptions) {
    if (typeof options !== 'object' || options === null) throw new ValidationError('PostgresSnapshotStore needs { pool } or { connectionString }');
    this.schema = validateSchemaName(options.schema ?? 'dgent');
    const table = options.table ?? 'snapshots';
    if (!IDENT.test(table)) throw new ValidationError(`table must match ${String(IDENT)}, got ${JSON.stringify(table)}`);
    this.t = `"${this.schema}"."${table}"`;
    if (options.pool) {
      this.pool = options.pool;
      this.owned = false;
    } else if (typeof options.connectionString === 'string') {
      const { pool, watchdog } = createOwnedPool(pg.Pool as unknown as PoolClass<SnapshotPool>, options.connectionString, {}, 'PostgresSnapshotStore');
      this.pool = pool;
      this.watchdog = watchdog;
      this.owned = true;
    } else throw new ValidationError('PostgresSnapshotStore needs { pool } or { connectionString }');
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await this.pool.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await this.pool.query(
        `CREATE TABLE IF NOT EXISTS ${this.t} (stream text COLLATE "C" NOT NULL, version text NOT NULL, revision integer NOT NULL, ` +
          `time bigint NOT NULL, event_id text NOT NULL, state text NOT NULL, PRIMARY KEY (stream, version, revision))`,
      );
    })().catch((e: unknown) => {
      this.ready = undefined; // retried by the next call (server down)
      throw e;
    });
    return this.ready;
  }

  private async run<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError('PostgresSnapshotStore');
    try {
      await this.init();
      return await fn();
    } catch (e) {
      throw e instanceof ValidationError ? e : mapPgError(e, doing);
    }
  }

  get(stream: string, query: SnapshotQuery): Promise<SnapshotRecord | undefined> {
    const max = Math.min(maxRevisionOf(query), 2147483647);
    return this.run('reading a snapshot', async () => {
      const { rows } = await this.pool.query(
        `SELECT stream, revision, version, time, event_id, state FROM ${this.t} WHERE stream = $1 AND version = $2 AND revision <= $3 ORDER BY revision DESC LIMIT 1`,
        [stream, query.version, Math.floor(max)],
      );
      return rows[0] ? toRecord(rows[0] as Row) : undefined;
    });
  }

  put(snapshot: SnapshotRecord): Promise<void> {
    const s = validateSnapshot(snapshot);
    if (s.state.includes('\0')) throw new ValidationError('PostgresSnapshotStore: a state whose encoded text holds NUL cannot be stored in PostgreSQL text');
    return this.run('writing a snapshot', async () => {
      await this.pool.query(
        `INSERT INTO ${this.t} (stream, version, revision, time, event_id, state) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (stream, version, revision) DO UPDATE SET time = excluded.time, event_id = excluded.event_id, state = excluded.state`,
        [s.stream, s.version, s.revision, s.time.getTime(), s.eventId, s.state],
      );
    });
  }

  list(stream: string): Promise<SnapshotInfo[]> {
    return this.run('listing snapshots', async () => {
      const { rows } = await this.pool.query(`SELECT stream, revision, version, time, event_id FROM ${this.t} WHERE stream = $1 ORDER BY revision, version COLLATE "C"`, [stream]);
      return (rows as Row[]).map(toInfo);
    });
  }

  delete(stream: string): Promise<number> {
    return this.run('deleting snapshots', async () => (await this.pool.query(`DELETE FROM ${this.t} WHERE stream = $1`, [stream])).rowCount ?? 0);
  }

  /** End the pool if this store created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.owned) return;
    try {
      await this.pool.end();
    } finally {
      this.watchdog?.stop();
    }
  }
}

function toInfo(r: Row): SnapshotInfo {
  return { stream: r.stream, revision: Number(r.revision), version: r.version, time: new Date(Number(r.time)), eventId: r.event_id };
}

function toRecord(r: Row): SnapshotRecord {
  return { ...toInfo(r), state: r.state! };
}
