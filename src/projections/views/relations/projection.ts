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
import { registerFused } from '../../storage/postgres-fused.js';
import type { ViewStorage } from '../../view-storage.js';
import type { MemoryMaps } from '../kv/memory.js';
import type { RedisKeys } from '../kv/redis.js';
import type { PostgresTables, SqliteTables } from '../sql-statements.js';
import { applyRelationsMemory, MemoryRelationsReader } from './memory.js';
import { applyRelationsPostgres, fusedRelationsDeleted, PostgresRelationsReader, setupRelationsPostgres } from './postgres.js';
import { applyRelationsRedis, RedisRelationsReader } from './redis.js';
import { byAge, RELATIONS_HANDLES, type RelationHistoryRetention, type RelationHistoryRetentionOptions } from './rows.js';
import { KEYED_EVENT_TYPES } from '../../keyed-events.js';
import { applyRelationsSqlite, setupRelationsSqlite, SqliteRelationsReader } from './sqlite.js';
import type { RelationsReader } from './types.js';

/** Options of {@link relationsView}. */
export interface RelationsViewOptions {
  /** projection name (default `kv_relations`) */
  name?: string | undefined;
  /** retention of the relation history (default: every change kept); see {@link RelationHistoryRetention} */
  retention?: RelationHistoryRetentionOptions | undefined;
}

function check(r: RelationHistoryRetention, where: string): void {
  if (typeof r !== 'object' || r === null) throw new ValidationError(`${where}must be an object`);
  if (r.maxChanges !== undefined && (!Number.isInteger(r.maxChanges) || r.maxChanges < 1)) throw new ValidationError(`${where}maxChanges must be an integer >= 1`);
  if (r.maxAgeMs !== undefined && !(typeof r.maxAgeMs === 'number' && r.maxAgeMs >= 0 && Number.isFinite(r.maxAgeMs))) throw new ValidationError(`${where}maxAgeMs must be a finite number >= 0`);
}

/**
 * The relations projection. With `retention`, the history keeps at most `maxChanges` changes per
 * relation and none older than `maxAgeMs` (relative to the newest keyed event folded, never the
 * wall clock; each relation's newest change is kept), per namespace of the subject.
 *
 * @example
 * ```ts
 * relationsView({ retention: { maxChanges: 10, namespaces: { audit_heavy: { maxAgeMs: 86_400_000 } } } });
 * ```
 */
export function relationsView(o: RelationsViewOptions = {}): Projection {
  const retention = o.retention;
  if (retention !== undefined) {
    check(retention, 'relations retention: ');
    for (const [ns, r] of Object.entries(retention.namespaces ?? {})) check(r, `relations retention of ${JSON.stringify(ns)}: `);
  }
  const timed = byAge(retention);
  return registerFused(defineProjection({
    name: o.name ?? 'kv_relations',
    version: 1,
    // retention by age needs the time of every keyed event (as the versions view has it), not only the relation-related ones
    handles: timed ? [...new Set([...RELATIONS_HANDLES, ...KEYED_EVENT_TYPES])] : RELATIONS_HANDLES,
    setup(ctx) {
      if (ctx.storage === 'sqlite') setupRelationsSqlite(ctx, timed);
      else if (ctx.storage === 'postgres') return setupRelationsPostgres(ctx, timed);
    },
    apply(events, ctx) {
      switch (ctx.storage) {
        case 'memory': return applyRelationsMemory(events, ctx, retention);
        case 'sqlite': return applyRelationsSqlite(events, ctx, retention);
        case 'postgres': return applyRelationsPostgres(events, ctx, retention);
        case 'redis': return applyRelationsRedis(events, ctx, retention);
      }
    },
  }), 4, { 'kv.deleted': fusedRelationsDeleted(retention) });
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
