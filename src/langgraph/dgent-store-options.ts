/**
 * DgentStore's options and how they become an EventLog: an existing log, a SQLite file (`path`)
 * or PostgreSQL (`connectionString`, `pg` loaded only then).
 */
import { driverLoadError } from '../core/drivers.js';
import { DgentError, ValidationError, shown } from '../core/errors.js';
import type { EventLog } from '../streams/event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import type { StoreOptions } from '../store/types.js';
import type { DgentStoreIndexConfig } from './dgent-store-vectors.js';

/** LangGraph's TTL settings: minutes, as LangGraph's stores take them. */
export interface DgentStoreTtlConfig {
  /** time to live of an item after its put, in minutes (default: none); `put(..., { ttl })` overrides it per item */
  defaultTtl?: number | undefined;
  /**
   * restart an item's TTL when `get` or `search` returns it (default false here; LangGraph's
   * PostgresStore defaults to true). A refresh writes the item again: a new version.
   */
  refreshOnRead?: boolean | undefined;
  /** how often expired items are swept out of the views, in minutes (default: the Store's 1 second) */
  sweepIntervalMinutes?: number | undefined;
}

/** Settings shared by every form of {@link DgentStoreOptions}. */
export interface DgentStoreCommonOptions {
  /** first label of every Store namespace this store writes (default `'lg'`): `lg.users.42` */
  prefix?: string | undefined;
  /** semantic search (LangGraph's `index` config), on a VectorAgent logged to the same log */
  index?: DgentStoreIndexConfig | undefined;
  /** TTL settings, in minutes */
  ttl?: DgentStoreTtlConfig | undefined;
  /** options of the underlying dgent Store (views, clock, actor, authorize, ...) */
  storeOptions?: Omit<StoreOptions, 'log'> | undefined;
}

/**
 * Where DgentStore stores: `{ log }` (any dgent EventLog, not closed by `stop()`), `{ path }` (a
 * SQLite file) or `{ connectionString }` (PostgreSQL, needs `pg`; `schema` default `'dgent'`).
 */
export type DgentStoreOptions = DgentStoreCommonOptions &
  ({ log: EventLog; path?: never; connectionString?: never } | { path: string; log?: never; connectionString?: never } | { connectionString: string; schema?: string | undefined; log?: never; path?: never });

/** The log for the options, and whether the store owns it. */
export async function openStoreLog(options: DgentStoreOptions): Promise<{ log: EventLog; owned: boolean }> {
  const o = options as { log?: EventLog; path?: string; connectionString?: string; schema?: string };
  if (o.log) return { log: o.log, owned: false };
  if (o.path !== undefined) return { log: new SqliteEventLog({ path: o.path }), owned: true };
  let m: typeof import('../streams/postgres/postgres-event-log.js');
  try {
    m = await import('../streams/postgres/postgres-event-log.js');
  } catch (e) {
    throw driverLoadError('DgentStore with a connectionString', 'pg', e instanceof DgentError && e.cause !== undefined ? e.cause : e);
  }
  return { log: new m.PostgresEventLog({ connectionString: o.connectionString!, schema: o.schema }), owned: true };
}

/** Check the options (ValidationError on a bad one). */
export function checkStoreOptions(options: DgentStoreOptions): void {
  if (typeof options !== 'object' || options === null) throw new ValidationError('DgentStore needs an options object { log | path | connectionString, index?, ttl? }');
  const o = options as { log?: unknown; path?: unknown; connectionString?: unknown };
  const given = [o.log, o.path, o.connectionString].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ValidationError('DgentStore needs exactly one of { log, path, connectionString }');
  if (o.path !== undefined && (typeof o.path !== 'string' || o.path === '')) throw new ValidationError('DgentStore: path must be a non-empty string');
  if (o.connectionString !== undefined && (typeof o.connectionString !== 'string' || o.connectionString === '')) throw new ValidationError('DgentStore: connectionString must be a non-empty string');
  const ttl = options.ttl;
  if (ttl !== undefined) {
    if (typeof ttl !== 'object' || ttl === null) throw new ValidationError('DgentStore: ttl must be { defaultTtl?, refreshOnRead?, sweepIntervalMinutes? }');
    for (const k of ['defaultTtl', 'sweepIntervalMinutes'] as const) {
      const v = ttl[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw new ValidationError(`DgentStore: ttl.${k} must be a number of minutes > 0, got ${shown(v)}`);
    }
  }
}
