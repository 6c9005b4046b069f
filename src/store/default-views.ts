/**
 * Where a Store's views live when the caller names none: on the log's own backend, inline.
 * Memory log: memory views; SQLite log: the log's file; PostgreSQL log: the log's schema and pool.
 * Other logs (file, Redis, EventStoreDB) cannot host inline views: their views must be named.
 *
 * The PostgreSQL storage is loaded with a dynamic import, only for a PostgreSQL log (whose module
 * already loaded pg): the core entry never imports pg (test/missing-driver.test.ts).
 */
import { ValidationError } from '../core/errors.js';
import { MemoryViewStorage } from '../projections/storage/memory-view-storage.js';
import { SqliteViewStorage } from '../projections/storage/sqlite-view-storage.js';
import type { Projection } from '../projections/projection.js';
import type { ViewStorage } from '../projections/view-storage.js';
import { keyedViews, type KeyedViewsOptions } from '../projections/views/index.js';
import { relationsView } from '../projections/views/relations/projection.js';
import type { EventLog } from '../streams/event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';

/** A PostgresEventLog seen structurally (its class lives behind `dgent/postgres`). */
interface PostgresLike {
  schema: string;
  pool: unknown;
}

function isPostgresLog(log: EventLog): log is EventLog & PostgresLike {
  const l = log as Partial<PostgresLike> & EventLog;
  return log.capabilities.supportsInlineProjections && typeof l.schema === 'string' && typeof l.pool === 'object' && l.pool !== null && log.constructor.name.startsWith('Postgres');
}

/** The Store's projections: the KV, versions and audit views, and the relations view (`kv_relations`). */
export function storeViews(o: KeyedViewsOptions = {}): Projection[] {
  return [...keyedViews(o), relationsView(o.relations)];
}

/** The default view storage of `log` (owned by the Store: it closes it), or a ValidationError naming what to pass. */
export async function defaultViewStorage(log: EventLog): Promise<ViewStorage> {
  if (log instanceof MemoryEventLog) return new MemoryViewStorage();
  if (log instanceof SqliteEventLog) return new SqliteViewStorage({ path: log.path });
  if (isPostgresLog(log)) {
    const { PostgresViewStorage } = await import('../projections/storage/postgres-view-storage.js');
    return new PostgresViewStorage({ pool: log.pool as never, schema: log.schema });
  }
  const name = (log as { constructor?: { name?: string } }).constructor?.name ?? 'this';
  throw new ValidationError(
    `Store: a ${name} log cannot hold its own views; pass views (e.g. new SqliteViewStorage({ path }), PostgresViewStorage or RedisViewStorage): they run async`,
  );
}
