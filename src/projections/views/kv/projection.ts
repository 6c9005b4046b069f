/**
 * The KV view as a projection: per (namespace, key) the current value, version, metadata,
 * created/updated time, expiry and last position; and the namespaces. On memory, SQLite,
 * PostgreSQL (value also as `jsonb`) and Redis (async only).
 */
import { defineProjection, type Projection } from '../../projection.js';
import { KEYED_EVENT_TYPES } from '../../keyed-events.js';
import { ERASED_EVENT_TYPE } from '../../../streams/erase.js';
import { parsePath } from '../filter.js';
import { applyKvMemory } from './memory.js';
import { applyKvPostgres, fusedKvDeleted, fusedKvHinted, fusedKvSet, setupKvPostgres } from './postgres.js';
import { registerFused } from '../../storage/postgres-fused.js';
import { applyKvRedis } from './redis.js';
import { applyKvSqlite, setupKvSqlite } from './sqlite.js';

/** Options of {@link kvView}. */
export interface KvViewOptions {
  /** projection name (default `kv`) */
  name?: string | undefined;
  /** value paths to index for queries (SQLite: json_extract expression indexes; PostgreSQL: jsonb expression indexes) */
  indexes?: readonly string[] | undefined;
}

/**
 * The KV projection. It handles the keyed events and `dgent.erased` (a purge's leftovers in key
 * streams: they keep the key's namespace, see views/plan.ts). Version 2: since then every event of
 * a key stream, erased ones included, creates its namespace (version 1 views rebuild on start).
 *
 * @example
 * ```ts
 * const runner = new ProjectionRunner({ log, storage, projections: [kvView({ indexes: ['status'] }), versionsView(), auditView()] });
 * ```
 */
export function kvView(o: KvViewOptions = {}): Projection {
  const indexes = [...(o.indexes ?? [])];
  indexes.forEach(parsePath);
  return registerFused(defineProjection({
    name: o.name ?? 'kv',
    version: 2,
    handles: [...KEYED_EVENT_TYPES, ERASED_EVENT_TYPE],
    setup(ctx) {
      if (ctx.storage === 'sqlite') setupKvSqlite(ctx, indexes);
      else if (ctx.storage === 'postgres') return setupKvPostgres(ctx, indexes);
    },
    apply(events, ctx) {
      switch (ctx.storage) {
        case 'memory': return applyKvMemory(events, ctx);
        case 'sqlite': return applyKvSqlite(events, ctx);
        case 'postgres': return applyKvPostgres(events, ctx);
        case 'redis': return applyKvRedis(events, ctx);
      }
    },
  }), 1, { 'kv.set': fusedKvSet, 'kv.deleted': fusedKvDeleted, 'kv.patched': fusedKvHinted, 'kv.incremented': fusedKvHinted });
}
