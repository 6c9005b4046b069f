/**
 * The reader side of the built-in views, as the Store uses them. Every backend implements the same
 * three interfaces over the active generation of its projection.
 *
 * Keys are ordered by code point (UTF-8 byte order: SQLite BINARY, PostgreSQL COLLATE "C", Redis
 * sorted sets), so `list` cursors (`after` = the last key of the previous page, exclusive) are
 * stable under concurrent writes and identical on every backend.
 */
import type { QueryOptions, ValueFilter } from './filter.js';
import type { AuditEntry, KvEntry, NamespaceEntry, VersionEntry } from './rows.js';

export type { QueryOptions, ValueFilter, ValueSort, FilterOp, Primitive } from './filter.js';
export type { AuditEntry, KvEntry, NamespaceEntry, VersionEntry } from './rows.js';

/** `now`: hide entries whose expiresAt <= now (the Store passes its clock, so an expired key is invisible at once). */
export interface ReadOptions {
  now?: number | undefined;
}

/** Options of KV `list`. */
export interface ListOptions extends ReadOptions {
  prefix?: string | undefined;
  /** exclusive cursor: the last key of the previous page */
  after?: string | undefined;
  limit?: number | undefined;
}

/** Reads of the KV view. Absent keys read as undefined; namespaces must be valid. */
/** A row of {@link KvReader.queryRows}. */
export interface QueryRow {
  key: string;
  value: unknown;
  version: number;
  metadata: Record<string, unknown> | null;
}

export interface KvReader {
  get(namespace: string, key: string, o?: ReadOptions): Promise<KvEntry | undefined>;
  /** one entry (or undefined) per key, in the order asked */
  getMany(namespace: string, keys: readonly string[], o?: ReadOptions): Promise<(KvEntry | undefined)[]>;
  has(namespace: string, key: string, o?: ReadOptions): Promise<boolean>;
  /** entries in key order */
  list(namespace: string, o?: ListOptions): Promise<KvEntry[]>;
  /** entries matching every filter; SQL backends push the filters down */
  query(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<KvEntry[]>;
  /**
   * Optional: `query` returning only key, value, version and metadata (what Store.query gives),
   * where the storage can read less for it; the same rows, in the same order.
   */
  queryRows?(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<QueryRow[]>;
  count(namespace: string, filters?: ValueFilter | readonly ValueFilter[], o?: ReadOptions): Promise<number>;
  /** namespaces in name order */
  namespaces(): Promise<NamespaceEntry[]>;
  /** keys whose expiresAt <= now, oldest expiry first (for the sweeper) */
  expired(now: number, limit: number): Promise<KvEntry[]>;
  /** every entry of every namespace (tests, dumps) */
  all(): Promise<KvEntry[]>;
}

/** A point in a key's history. */
export type VersionTarget = { version: number } | { time: number | Date };

/** Reads of the versions view. */
export interface VersionsReader {
  /** newest first; `before`: only versions < before */
  versions(namespace: string, key: string, o?: { limit?: number | undefined; before?: number | undefined }): Promise<VersionEntry[]>;
  /** the newest version <= target (by version, or by time); undefined when none is kept */
  at(namespace: string, key: string, target: VersionTarget): Promise<VersionEntry | undefined>;
  all(): Promise<VersionEntry[]>;
}

/** Filter of the audit view; every given field must match; times are inclusive. */
export interface AuditFilter {
  namespace?: string | undefined;
  key?: string | undefined;
  actor?: string | undefined;
  operation?: string | undefined;
  since?: number | Date | undefined;
  until?: number | Date | undefined;
  /** exclusive cursor: the position of the last entry of the previous page */
  after?: number | undefined;
  limit?: number | undefined;
}

/** Reads of the audit view: oldest first. */
export interface AuditReader {
  audit(filter?: AuditFilter): Promise<AuditEntry[]>;
  all(): Promise<AuditEntry[]>;
}

export { compareKeys, prefixEnd, ms } from './keys.js';
