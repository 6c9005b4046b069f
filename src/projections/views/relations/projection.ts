/**
 * The relations view as a projection: every live relation `subject -predicate-> object` between
 * Store keys, readable in both directions, and every change of every relation (history). It folds
 * the relationship events and the key removals (delete, expiry, purge, namespace drop), so a
 * key's relations go in the same append that removes the key. On memory, SQLite, PostgreSQL and
 * Redis (async only).
 *
 * @example
 * ```ts
 * const runner = new ProjectionRunner({ log, storage, projections: [...keyedViews(), relationsView()] });
 * await runner.start();
 * await relationsReader(storage).related({ namespace: 'users', key: 'ada' }, 'follows');
 * ```
 */
import { ValidationError } from '../../../core/errors.js';
import { defineProjection, type Projection } from '../../projection.js';
import type { ViewStorage } from '../../view-storage.js';
import type { MemoryMaps } from '../kv/memory.js';
import type { RedisKeys } from '../kv/redis.js';
import type { PostgresTables, SqliteTables } from '../sql-statements.js';
import { applyRelationsMemory, MemoryRelationsReader } from './memory.js';
import { applyRelationsPostgres, PostgresRelationsReader, setupRelationsPostgres } from './postgres.js';
import { applyRelationsRedis, RedisRelationsReader } from './redis.js';
import { RELATIONS_HANDLES } from './rows.js';
import { applyRelationsSqlite, setupRelationsSqlite, SqliteRelationsReader } from './sqlite.js';
import type { RelationsReader } from './types.js';

/** Options of {@link relationsView}. */
export interface RelationsViewOptions {
  /** projection name (default `kv_relations`) */
  name?: string | undefined;
}

/** The relations projection. */
export function relationsView(o: RelationsViewOptions = {}): Projection {
  return defineProjection({
    name: o.name ?? 'kv_relations',
    version: 1,
    handles: RELATIONS_HANDLES,
    setup(ctx) {
      if (ctx.storage === 'sqlite') setupRelationsSqlite(ctx);
      else if (ctx.storage === 'postgres') return setupRelationsPostgres(ctx);
    },
    apply(events, ctx) {
      switch (ctx.storage) {
        case 'memory': return applyRelationsMemory(events, ctx);
        case 'sqlite': return applyRelationsSqlite(events, ctx);
        case 'postgres': return applyRelationsPostgres(events, ctx);
        case 'redis': return applyRelationsRedis(events, ctx);
      }
    },
  });
}

/** The reader of the relations view held by `storage` (projection name default `kv_relations`). */
export function relationsReader(storage: ViewStorage, name = 'kv_relations'): RelationsReader {
  switch (storage.kind) {
    case 'memory': return new MemoryRelationsReader(storage as unknown as MemoryMaps, name);
    case 'sqlite': return new SqliteRelationsReader(storage as unknown as SqliteTables, name);
    case 'postgres': return new PostgresRelationsReader(storage as unknown as PostgresTables, name);
    case 'redis': return new RedisRelationsReader(storage as unknown as RedisKeys, name);
    default:
      throw new ValidationError(`no relations reader for storage kind ${String((storage as { kind?: unknown }).kind)}`);
  }
}
