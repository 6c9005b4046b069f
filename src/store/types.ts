/**
 * Public types of the Store: its options, what its operations take and what they resolve to.
 */
import type { Metadata } from '../projections/keyed-events.js';
import type { ProjectionMode, ProjectionStatus } from '../projections/runner/types.js';
import type { KeyedViewsOptions } from '../projections/views/index.js';
import type { ValueFilter, ValueSort } from '../projections/views/filter.js';
import type { ViewStorage } from '../projections/view-storage.js';
import type { EventLog } from '../streams/event-log.js';
import type { ObservabilityOptions } from '../observability/types.js';

/** An access decision request: who wants to do what where. `key` is undefined for namespace-wide operations. */
export interface AuthorizeRequest {
  actor: string | undefined;
  action: 'read' | 'write' | 'admin';
  namespace: string;
  key: string | undefined;
}

/** The access hook: true allows, false denies (sync or async). */
export type Authorize = (request: AuthorizeRequest) => boolean | Promise<boolean>;

/** A clock (epoch ms); tests pass a fake one to drive TTLs. */
export interface StoreClock {
  now(): number;
}

/** Options of {@link Store}; `onOperation`, `stats` and `openTelemetry` are documented in docs/observability.md. */
export interface StoreOptions extends ObservabilityOptions {
  /** the event log (source of truth) */
  log: EventLog;
  /**
   * where the KV, versions and audit views live. Default: on the log's own backend, inline
   * (memory; SQLite in the log's file; PostgreSQL in the log's schema). The file, Redis and
   * EventStoreDB logs need named views, which then run async.
   */
  views?: ViewStorage | undefined;
  /** `inline` or `async` (default: inline where the log and the views allow it) */
  viewsMode?: ProjectionMode | undefined;
  /** options of the three views (KV indexes for queries, retention of versions and audit) */
  viewOptions?: KeyedViewsOptions | undefined;
  /** access hook; none = everything allowed */
  authorize?: Authorize | undefined;
  /** cache access decisions this long, ms (default 0: ask every time); `policyChanged()` drops the cache */
  authorizeCacheMs?: number | undefined;
  /** at most this many cached access decisions, least recently used dropped first (default 10000) */
  authorizeCacheSize?: number | undefined;
  /** epoch-ms clock for TTLs (default Date.now) */
  clock?: StoreClock | undefined;
  /** how often the sweeper appends expiry events, ms (default 1000; 0 = no timer, call `sweep()` yourself) */
  sweepIntervalMs?: number | undefined;
  /** transaction / update attempts before ConcurrencyError (default 20) */
  maxRetries?: number | undefined;
  /** default actor when an operation names none */
  actor?: string | undefined;
  /** longest encoded value accepted, bytes (default 16 MiB) */
  maxValueBytes?: number | undefined;
}

/** What every operation takes. */
export interface OpOptions {
  /** default `'default'` */
  namespace?: string | undefined;
  /** who does it (audit, access control) */
  actor?: string | undefined;
}

/** A point in a key's past. */
export type AtTarget = { version: number } | { time: number | Date };

export interface GetOptions extends OpOptions {
  /** time travel: the value at a version, or at a time */
  at?: AtTarget | undefined;
  /** resolve to a {@link StoreEntry} instead of the bare value */
  includeMetadata?: boolean | undefined;
}

/** A key with its value and bookkeeping. */
export interface StoreEntry<T = unknown> {
  key: string;
  value: T;
  version: number;
  metadata: Metadata | null;
  createdAt: number;
  updatedAt: number;
  expiresAt: number | null;
}

/** Extra metadata recorded on the events a write appends (not the key's metadata), e.g. `queuedAt` on a write fallback() replayed; it cannot replace `operation`, `actor` or `tx`. */
export interface EventMetadataOptions {
  eventMetadata?: Readonly<Record<string, unknown>> | undefined;
}

export interface SetOptions extends OpOptions, EventMetadataOptions {
  /** replaces the key's metadata (kept when absent) */
  metadata?: Metadata | undefined;
  /** expire after this many ms (by the Store's clock) */
  ttlMs?: number | undefined;
  /** expire at this time (epoch ms or Date, by the Store's clock); excludes `ttlMs` */
  expiresAt?: number | Date | undefined;
  /** optimistic concurrency: the version the caller last saw (0 = absent) */
  expectedVersion?: number | undefined;
  /** write only when the key has no live value; otherwise resolve with `written: false` */
  ifAbsent?: boolean | undefined;
}

export interface SetResult {
  version: number;
  /** false when `ifAbsent` found a live value (nothing appended) */
  written: boolean;
}

export interface DeleteOptions extends OpOptions, EventMetadataOptions {
  expectedVersion?: number | undefined;
}

export interface ListOptions extends OpOptions {
  prefix?: string | undefined;
  /** glob on keys: `*` any run, `?` one character (evaluated in process, after prefix and cursor) */
  pattern?: string | undefined;
  limit?: number | undefined;
  /** the `cursor` of the previous page */
  cursor?: string | undefined;
}

export interface ListPage {
  items: StoreEntry[];
  /** pass to the next call; undefined on the last page */
  cursor: string | undefined;
}

export interface QueryOptions extends OpOptions {
  sort?: readonly ValueSort[] | undefined;
  limit?: number | undefined;
  offset?: number | undefined;
}

/** One query result. */
export interface QueryResult<T = unknown> {
  key: string;
  value: T;
  version: number;
  metadata: Metadata | null;
}

export interface DeleteNamespaceOptions extends OpOptions {
  /** delete its keys too (else a namespace with keys is a ValidationError) */
  recursive?: boolean | undefined;
}

export interface SetMetadataOptions extends OpOptions, EventMetadataOptions {
  /** shallow-merge into the current metadata instead of replacing it */
  merge?: boolean | undefined;
}

/** One version of a key, newest first from `versions()`. */
export interface StoreVersion<T = unknown> {
  version: number;
  value: T | undefined;
  deleted: boolean;
  metadata: Metadata | null;
  expiresAt: number | null;
  time: number;
  actor: string | null;
  operation: string;
}

export interface VersionsOptions extends OpOptions {
  limit?: number | undefined;
}

/** Filter of `audit()`. Here `actor` filters the entries; who asks (for access control) is `principal`. */
export interface AuditQuery {
  namespace?: string | undefined;
  key?: string | undefined;
  /** only entries written by this actor */
  actor?: string | undefined;
  /** who asks (default: the Store's actor) */
  principal?: string | undefined;
  operation?: string | undefined;
  since?: number | Date | undefined;
  until?: number | Date | undefined;
  limit?: number | undefined;
}

export interface IncrOptions extends OpOptions {
  /** dotted path of the number inside an object value */
  field?: string | undefined;
}

/** What `status()` reports. */
export interface StoreStatus {
  healthy: boolean;
  log: { healthy: boolean; error?: string | undefined };
  views: ProjectionStatus[];
  mode: ProjectionMode;
  /** live keys per namespace */
  sizes: Record<string, number>;
  /** the error of the last TTL sweep, when it failed */
  sweepError?: string | undefined;
}

export type { ValueFilter, ValueSort, Metadata };
