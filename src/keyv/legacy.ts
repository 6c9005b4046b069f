/**
 * Keyv 5's side of the adapter contract (`keyvVersion: 5`): `set(key, value, ttl)` with a relative
 * ttl in ms (undefined = none), keys prefixed `<namespace>:` by Keyv itself (default namespace
 * `keyv`). Keyv 5 is still what most `@keyv/*` adapters peer on, and Keyv 6 needs Node >= 22.
 */
import { ValidationError } from '../core/errors.js';
import type { WritePlan } from './expiry.js';

/** Plan a Keyv 5 write: a positive finite ttl expires after it; undefined, 0 or Infinity never expire. */
export function legacyPlan(ttl: unknown): WritePlan {
  if (ttl === undefined || ttl === null) return { kind: 'set' };
  if (typeof ttl !== 'number' || Number.isNaN(ttl)) throw new ValidationError(`ttl must be milliseconds (a number) or undefined, got ${typeof ttl === 'number' ? 'NaN' : typeof ttl}`);
  if (ttl < 0) return { kind: 'expired' };
  // Keyv 5 treats a ttl of 0 as "no ttl"
  return ttl === 0 || !Number.isFinite(ttl) ? { kind: 'set' } : { kind: 'set', ttlMs: ttl };
}

/** The key prefix Keyv 5 puts in front of keys of a namespace. */
export function prefixOf(namespace: string | undefined): string | undefined {
  return namespace === undefined || namespace === '' ? undefined : `${namespace}:`;
}
