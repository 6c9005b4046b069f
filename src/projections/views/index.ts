/**
 * The built-in views in one place: the three projections, and their readers for whichever
 * storage holds them (chosen by `storage.kind`; no driver is imported here).
 *
 * @example
 * ```ts
 * const storage = new SqliteViewStorage({ path: 'app.db' });
 * const runner = new ProjectionRunner({ log, storage, projections: keyedViews() });
 * await runner.start();
 * const { kv, versions, audit } = viewReaders(storage);
 * await kv.get('default', 'user:1');
 * ```
 */
import { ValidationError } from '../../core/errors.js';
import type { Projection } from '../projection.js';
import type { ViewStorage } from '../view-storage.js';
import { auditView, type AuditViewOptions } from './audit/projection.js';
import { MemoryAuditReader } from './audit/memory.js';
import { PostgresAuditReader } from './audit/postgres.js';
import { RedisAuditReader } from './audit/redis.js';
import { SqliteAuditReader } from './audit/sqlite.js';
import { kvView, type KvViewOptions } from './kv/projection.js';
import { MemoryKvReader, type MemoryMaps } from './kv/memory.js';
import { PostgresKvReader } from './kv/postgres.js';
import { RedisKvReader, type RedisKeys } from './kv/redis.js';
import { SqliteKvReader } from './kv/sqlite.js';
import type { RelationsViewOptions } from './relations/projection.js';
import type { PostgresTables, SqliteTables } from './sql-statements.js';
import type { AuditReader, KvReader, VersionsReader } from './types.js';
import { versionsView, type VersionsViewOptions } from './versions/projection.js';
import { MemoryVersionsReader } from './versions/memory.js';
import { PostgresVersionsReader } from './versions/postgres.js';
import { RedisVersionsReader } from './versions/redis.js';
import { SqliteVersionsReader } from './versions/sqlite.js';

/** Options of {@link keyedViews}: each view's options (names, indexes, retention). */
export interface KeyedViewsOptions {
  kv?: KvViewOptions | undefined;
  versions?: VersionsViewOptions | undefined;
  audit?: AuditViewOptions | undefined;
  /** the relations view's options (a Store registers it beside the three; `keyedViews` does not) */
  relations?: RelationsViewOptions | undefined;
}

/** The KV, versions and audit projections, for a ProjectionRunner. */
export function keyedViews(o: KeyedViewsOptions = {}): Projection[] {
  return [kvView(o.kv), versionsView(o.versions), auditView(o.audit)];
}

/** The readers of the three views. */
export interface ViewReaders {
  kv: KvReader;
  versions: VersionsReader;
  audit: AuditReader;
}

/** Readers of the three views held by `storage` (projection names default to `kv`, `kv_versions`, `kv_audit`). */
export function viewReaders(storage: ViewStorage, names: { kv?: string | undefined; versions?: string | undefined; audit?: string | undefined } = {}): ViewReaders {
  const n = { kv: names.kv ?? 'kv', versions: names.versions ?? 'kv_versions', audit: names.audit ?? 'kv_audit' };
  switch (storage.kind) {
    case 'memory': {
      const s = storage as unknown as MemoryMaps;
      return { kv: new MemoryKvReader(s, n.kv), versions: new MemoryVersionsReader(s, n.versions), audit: new MemoryAuditReader(s, n.audit) };
    }
    case 'sqlite': {
      const s = storage as unknown as SqliteTables;
      return { kv: new SqliteKvReader(s, n.kv), versions: new SqliteVersionsReader(s, n.versions), audit: new SqliteAuditReader(s, n.audit) };
    }
    case 'postgres': {
      const s = storage as unknown as PostgresTables;
      return { kv: new PostgresKvReader(s, n.kv), versions: new PostgresVersionsReader(s, n.versions), audit: new PostgresAuditReader(s, n.audit) };
    }
    case 'redis': {
      const s = storage as unknown as RedisKeys;
      return { kv: new RedisKvReader(s, n.kv), versions: new RedisVersionsReader(s, n.versions), audit: new RedisAuditReader(s, n.audit) };
    }
    default:
      throw new ValidationError(`no built-in view readers for storage kind ${String((storage as { kind?: unknown }).kind)}`);
  }
}
