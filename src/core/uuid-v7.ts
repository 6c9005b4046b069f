/**
 * Time-ordered UUIDs (version 7, RFC 9562) for generated event ids.
 *
 * The id column carries a UNIQUE index (ids are unique across the log). Random v4 ids land on a
 * random leaf page of that index, so every append dirties one more page; v7 ids start with the
 * millisecond timestamp and land at the index's right edge, where the pages are already in cache
 * and shared by the whole group commit. Measured in bench/event-log.bench.ts: several times
 * faster inserts in batches.
 */
import { randomFillSync } from 'node:crypto';

const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(16 * POOL_IDS);
let next = pool.length;

/** A new UUID v7: 48-bit Unix milliseconds, version 7, 74 random bits. */
export function uuidV7(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const o = next;
  next += 16;
  pool.writeUIntBE(Date.now(), o, 6);
  pool[o + 6] = (pool[o + 6]! & 0x0f) | 0x70;
  pool[o + 8] = (pool[o + 8]! & 0x3f) | 0x80;
  const h = pool.toString('hex', o, o + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
