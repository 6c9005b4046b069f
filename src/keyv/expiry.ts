/**
 * Keyv 6 hands adapters an absolute `expires` (epoch ms), which goes to the Store as `expiresAt`
 * unchanged. This module checks it and sorts out entries that are already expired by the Store's
 * clock (Keyv's contract: "a value <= Date.now() is already expired and the adapter may delete/skip it").
 */
import { ValidationError } from '../core/errors.js';

/** Below this (1973-03-03 in epoch ms), an `expires` next to a clock of today is a relative ttl, not a time. */
const RELATIVE_TTL_BOUND = 1e11;

/** What to do with one write: store it (with an absolute expiry, a relative ttl, or none), or delete the key because it has expired already. */
export type WritePlan = { kind: 'set'; expiresAt?: number | undefined; ttlMs?: number | undefined } | { kind: 'expired' };

/**
 * Plan a write with Keyv's absolute `expires`. `undefined`, `Infinity` and other non-finite values
 * but NaN mean no expiry (Keyv: "a non-finite `expires` means no store-level expiry").
 */
export function planWrite(expires: unknown, now: number): WritePlan {
  if (expires === undefined || expires === null) return { kind: 'set' };
  if (typeof expires !== 'number' || Number.isNaN(expires)) {
    throw new ValidationError(`expires must be epoch milliseconds (a number) or undefined, got ${typeof expires === 'number' ? 'NaN' : typeof expires}`);
  }
  if (!Number.isFinite(expires)) return expires > 0 ? { kind: 'set' } : { kind: 'expired' };
  // Keyv 5 passes a relative ttl here (1000 = 1 s), which read as epoch ms lies in 1970: writing it
  // as "already expired" would silently drop every value, so say what is wrong instead
  if (expires >= 0 && expires < RELATIVE_TTL_BOUND && now >= 10 * RELATIVE_TTL_BOUND) {
    throw new ValidationError(`expires ${expires} is not an epoch-ms time but looks like a relative ttl: Keyv 5 passes ttls; create the adapter with { keyvVersion: 5 }`);
  }
  return expires > now ? { kind: 'set', expiresAt: expires } : { kind: 'expired' };
}
