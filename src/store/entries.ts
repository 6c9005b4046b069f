/** Conversions from view rows to what the Store returns, and small input checks shared by the groups. */
import { ValidationError, shown } from '../core/errors.js';
import type { KvEntry, VersionEntry } from '../projections/views/rows.js';
import type { QueryResult, StoreEntry, StoreVersion } from './types.js';

export function toEntry<T>(e: KvEntry): StoreEntry<T> {
  return { key: e.key, value: e.value as T, version: e.version, metadata: e.metadata, createdAt: e.createdAt, updatedAt: e.updatedAt, expiresAt: e.expiresAt };
}

export function toResult<T>(e: KvEntry): QueryResult<T> {
  return { key: e.key, value: e.value as T, version: e.version, metadata: e.metadata };
}

export function toVersion<T>(v: VersionEntry): StoreVersion<T> {
  return {
    version: v.version,
    value: v.deleted ? undefined : (v.value as T),
    deleted: v.deleted,
    metadata: v.metadata,
    expiresAt: v.expiresAt,
    time: v.time,
    actor: v.actor,
    operation: v.operation,
  };
}

/** `undefined`, or an integer >= min. */
export function optionalInt(v: unknown, what: string, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new ValidationError(`${what} must be an integer >= ${min}, got ${shown(v)}`);
  return v;
}

/** A time option (epoch ms or Date) as epoch ms. */
export function timeOf(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  const t = v instanceof Date ? v.getTime() : v;
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new ValidationError(`${what} must be a Date or epoch milliseconds`);
  return t;
}

/** Keys of a batch: an array of strings. */
export function keyList(keys: unknown, what: string): string[] {
  if (!Array.isArray(keys)) throw new ValidationError(`${what} needs an array of keys`);
  return keys as string[];
}
