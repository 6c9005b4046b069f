/**
 * The versions view as a projection: every value of every key with its version, time, actor,
 * operation and position; retention per namespace (max versions, max age; a key's newest version
 * is always kept). On memory, SQLite, PostgreSQL and Redis (async only).
 */
import { ValidationError } from '../../../core/errors.js';
import { defineProjection, type Projection } from '../../projection.js';
import { KEYED_EVENT_TYPES } from '../../keyed-events.js';
import type { VersionRetention, VersionsRetentionOptions } from '../rows.js';
import { applyVersionsMemory } from './memory.js';
import { applyVersionsPostgres, fusedVersionsDeleted, fusedVersionsHinted, fusedVersionsSet, setupVersionsPostgres } from './postgres.js';
import { registerFused } from '../../storage/postgres-fused.js';
import { applyVersionsRedis } from './redis.js';
import { applyVersionsSqlite, setupVersionsSqlite } from './sqlite.js';

/** Options of {@link versionsView}. */
export interface VersionsViewOptions {
  /** projection name (default `kv_versions`) */
  name?: string | undefined;
  retention?: VersionsRetentionOptions | undefined;
}

function check(r: VersionRetention, where: string): void {
  if (r.maxVersions !== undefined && (!Number.isInteger(r.maxVersions) || r.maxVersions < 1)) throw new ValidationError(`${where}maxVersions must be an integer >= 1`);
  if (r.maxAgeMs !== undefined && !(r.maxAgeMs >= 0 && Number.isFinite(r.maxAgeMs))) throw new ValidationError(`${where}maxAgeMs must be a finite number >= 0`);
}

/** The versions projection. */
export function versionsView(o: VersionsViewOptions = {}): Projection {
  const retention = o.retention;
  if (retention) {
    check(retention, 'versions retention: ');
    for (const [ns, r] of Object.entries(retention.namespaces ?? {})) check(r, `versions retention of ${JSON.stringify(ns)}: `);
  }
  // any retention by age: the time index, and no fused appends (its deletes read the view)
  const byTime = retention?.maxAgeMs !== undefined || Object.values(retention?.namespaces ?? {}).some((r) => r.maxAgeMs !== undefined);
  return registerFused(defineProjection({
    name: o.name ?? 'kv_versions',
    version: 1,
    handles: KEYED_EVENT_TYPES,
    setup(ctx) {
      if (ctx.storage === 'sqlite') setupVersionsSqlite(ctx, byTime);
      else if (ctx.storage === 'postgres') return setupVersionsPostgres(ctx, byTime);
    },
    apply(events, ctx) {
      switch (ctx.storage) {
        case 'memory': return applyVersionsMemory(events, ctx, retention);
        case 'sqlite': return applyVersionsSqlite(events, ctx, retention);
        case 'postgres': return applyVersionsPostgres(events, ctx, retention);
        case 'redis': return applyVersionsRedis(events, ctx, retention);
      }
    },
  }), 2, {
    'kv.set': fusedVersionsSet(retention, byTime),
    'kv.deleted': fusedVersionsDeleted(retention, byTime),
    'kv.patched': fusedVersionsHinted(retention, byTime),
    'kv.incremented': fusedVersionsHinted(retention, byTime),
  });
}
