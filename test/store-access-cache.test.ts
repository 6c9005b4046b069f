/**
 * The Store's policy-decision cache (authorize decisions cached for `authorizeCacheMs`, at most
 * `authorizeCacheSize` of them, dropped by `policyChanged()`), checked by counts: for random
 * sequences of reads by several actors, clock steps and policy changes, `stats().accessCache`
 * (hits, misses, hit ratio, evictions, expiries, invalidations, size) and the number of times the
 * hook was asked equal a reference model of a TTL + least-recently-used cache. Memory and SQLite logs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { AccessDeniedError, ValidationError } from '../src/core/errors.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';
import type { AccessCacheStats } from '../src/observability/types.js';
import { Store } from '../src/store/store.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-access-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const logs: { name: string; log(): EventLog }[] = [
  { name: 'memory', log: () => new MemoryEventLog() },
  { name: 'SQLite', log: () => new SqliteEventLog({ path: join(dir, `log${++files}.db`) }) },
];

type Op = { kind: 'read'; actor: number; key: number } | { kind: 'advance'; ms: number } | { kind: 'policyChanged' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('read' as const), actor: fc.nat({ max: 1 }), key: fc.nat({ max: 2 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 150 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'policyChanged' as const }) },
);

/** The cache as the docs define it: an entry lives `ttl` ms (by the clock); a hit makes it the most recently used; past `size`, the least recently used goes. */
class ModelCache {
  readonly entries = new Map<string, number>(); // id -> until, least recently used first
  hits = 0;
  misses = 0;
  evictions = 0;
  expired = 0;
  invalidations = 0;
  constructor(private readonly ttl: number, private readonly size: number) {}

  /** true when the hook is asked */
  decide(id: string, now: number): boolean {
    if (this.ttl === 0) {
      this.misses++;
      return true;
    }
    const until = this.entries.get(id);
    if (until !== undefined) {
      this.entries.delete(id);
      if (until > now) {
        this.hits++;
        this.entries.set(id, until);
        return false;
      }
      this.expired++;
    }
    this.misses++;
    this.entries.set(id, now + this.ttl);
    if (this.entries.size > this.size) {
      this.entries.delete(this.entries.keys().next().value!);
      this.evictions++;
    }
    return true;
  }

  stats(): AccessCacheStats {
    const n = this.hits + this.misses;
    return { hits: this.hits, misses: this.misses, hitRatio: n === 0 ? 0 : this.hits / n, evictions: this.evictions, expired: this.expired, invalidations: this.invalidations, size: this.entries.size, maxEntries: this.size };
  }
}

describe.each(logs)('policy-decision cache on $name', (b) => {
  it('stats().accessCache counts hits, misses, hit ratio, evictions, expiries and invalidations as the TTL + LRU model does, and the hook is asked once per miss (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.constantFrom(0, 100, 100_000, 100_000), fc.integer({ min: 1, max: 4 }), async (ops, ttl, size) => {
        const log = b.log();
        let now = 1_000_000;
        let asked = 0;
        const store = new Store({
          log,
          clock: { now: () => now },
          sweepIntervalMs: 0,
          stats: true,
          openTelemetry: false,
          authorizeCacheMs: ttl,
          authorizeCacheSize: size,
          authorize: () => {
            asked++;
            return true;
          },
        });
        const model = new ModelCache(ttl, size);
        try {
          await store.ready();
          for (const op of ops) {
            if (op.kind === 'advance') now += op.ms;
            else if (op.kind === 'policyChanged') {
              store.policyChanged();
              model.entries.clear();
              model.invalidations++;
            } else {
              const actor = `actor${op.actor}`;
              const key = `k${op.key}`;
              await store.has(key, { actor }); // one decision: read of (default, key)
              model.decide(JSON.stringify([actor, 'read', 'default', key]), now);
            }
            expect(store.stats().accessCache).toEqual(model.stats());
          }
          expect(asked).toBe(model.misses);
        } finally {
          await store.close();
          await log.close();
        }
      }),
      { numRuns: 100 },
    );
  }, 300_000);
});

describe('policy-decision cache', () => {
  it('a cached denial is a hit too; policyChanged() drops it and the next decision asks the hook', async () => {
    const log = new MemoryEventLog();
    let allow = false;
    const store = new Store({ log, sweepIntervalMs: 0, stats: true, openTelemetry: false, authorizeCacheMs: 60_000, authorize: () => allow });
    try {
      await expect(store.get('k', { actor: 'a' })).rejects.toBeInstanceOf(AccessDeniedError);
      await expect(store.get('k', { actor: 'a' })).rejects.toBeInstanceOf(AccessDeniedError);
      expect(store.stats().accessCache).toMatchObject({ hits: 1, misses: 1, hitRatio: 0.5, size: 1 });
      allow = true;
      store.policyChanged();
      expect(await store.get('k', { actor: 'a' })).toBeUndefined();
      expect(store.stats().accessCache).toMatchObject({ hits: 1, misses: 2, invalidations: 1, size: 1 });
    } finally {
      await store.close();
    }
  });

  it('accessCache is absent without stats: true or without an authorize hook; a bad authorizeCacheSize is ValidationError', async () => {
    const log = new MemoryEventLog();
    const plain = new Store({ log, sweepIntervalMs: 0, openTelemetry: false, authorizeCacheMs: 10, authorize: () => true });
    const noHook = new Store({ log, sweepIntervalMs: 0, stats: true, openTelemetry: false });
    try {
      await plain.get('k');
      await noHook.get('k');
      expect(plain.stats().accessCache).toBeUndefined();
      expect(noHook.stats().accessCache).toBeUndefined();
      for (const bad of [0, 1.5, -1, Number.NaN]) expect(() => new Store({ log, authorize: () => true, authorizeCacheSize: bad })).toThrow(ValidationError);
    } finally {
      await plain.close();
      await noHook.close();
    }
  });
});

