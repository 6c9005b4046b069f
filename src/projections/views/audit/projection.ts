/**
 * The audit view as a projection: position, time, actor, operation, namespace, key, version and
 * metadata of every keyed event (never the value); retention by age. On memory, SQLite,
 * PostgreSQL and Redis (async only).
 */
import { ValidationError } from '../../../core/errors.js';
import { defineProjection, type Projection } from '../../projection.js';
import { KEYED_EVENT_TYPES, RELATION_EVENT_TYPES } from '../../keyed-events.js';
import type { AuditRetentionOptions } from '../rows.js';
import { applyAuditMemory } from './memory.js';
import { applyAuditPostgres, fusedAuditSet, setupAuditPostgres } from './postgres.js';
import { registerFused } from '../../storage/postgres-fused.js';
import { applyAuditRedis } from './redis.js';
import { applyAuditSqlite, setupAuditSqlite } from './sqlite.js';

/** Options of {@link auditView}. */
export interface AuditViewOptions {
  /** projection name (default `kv_audit`) */
  name?: string | undefined;
  retention?: AuditRetentionOptions | undefined;
}

/** The audit projection. */
export function auditView(o: AuditViewOptions = {}): Projection {
  const retention = o.retention;
  const age = retention?.maxAgeMs;
  if (age !== undefined && !(age >= 0 && Number.isFinite(age))) throw new ValidationError('audit retention: maxAgeMs must be a finite number >= 0');
  return registerFused(defineProjection({
    name: o.name ?? 'kv_audit',
    version: 1,
    handles: [...KEYED_EVENT_TYPES, ...RELATION_EVENT_TYPES], // relate/unrelate are audited too (as events of the subject key)
    setup(ctx) {
      if (ctx.storage === 'sqlite') setupAuditSqlite(ctx, age !== undefined);
      else if (ctx.storage === 'postgres') return setupAuditPostgres(ctx, age !== undefined);
    },
    apply(events, ctx) {
      switch (ctx.storage) {
        case 'memory': return applyAuditMemory(events, ctx, retention);
        case 'sqlite': return applyAuditSqlite(events, ctx, retention);
        case 'postgres': return applyAuditPostgres(events, ctx, retention);
        case 'redis': return applyAuditRedis(events, ctx, retention);
      }
    },
  }), 3, { 'kv.set': fusedAuditSet(retention), 'kv.deleted': fusedAuditSet(retention), 'kv.patched': fusedAuditSet(retention), 'kv.incremented': fusedAuditSet(retention) });
}
