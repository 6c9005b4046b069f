/**
 * Two small contracts: a bad namespace's error says "namespace" (not "key"), on a real Store; and
 * `runner.rebuild(name, { onProgress })` reports each progress once, the final one included
 * (processed strictly increasing, the last equal to the log's head), for any number of events and
 * any page size (fast-check), on memory and SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidKeyError, MemoryEventLog, MemoryViewStorage, ProjectionRunner, SqliteEventLog, SqliteViewStorage, Store, type RebuildProgress } from '../src/index.js';
import { countingProjection } from './support/projection-counting.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-ns-progress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a bad namespace', () => {
  it.each([
    ['a/b', /^invalid namespace "a\/b": a namespace must not contain '\/'/],
    ['a:b', /^invalid namespace "a:b": /],
    ['', /^invalid namespace "": a namespace must not be empty/],
    ['x'.repeat(129), /^invalid namespace "x+…": longer than 128 characters/],
  ])('store.set with namespace %j throws InvalidKeyError "invalid namespace ..."', async (namespace, message) => {
    const log = new MemoryEventLog();
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      const e = await store.set('k', 1, { namespace }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(InvalidKeyError);
      expect((e as Error).message).toMatch(message);
      expect((e as Error).message).not.toMatch(/invalid key/);
    } finally {
      await store.close();
      await log.close();
    }
  });

  it('a bad key still says key', async () => {
    const log = new MemoryEventLog();
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      await expect(store.set('', 1)).rejects.toThrow(/^invalid key "": key must not be empty/);
    } finally {
      await store.close();
      await log.close();
    }
  });
});

describe('runner.rebuild onProgress', () => {
  for (const kind of ['memory', 'sqlite'] as const) {
    it(`${kind}: each report once, the final one included: processed strictly increasing, the last is the head (property)`, async () => {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom(0, 1_000_000_000), async (events, batchSize, progressEveryMs) => {
          run++;
          const path = join(dir, `p${run}.db`);
          const log = kind === 'memory' ? new MemoryEventLog() : new SqliteEventLog({ path });
          const storage = kind === 'memory' ? new MemoryViewStorage() : new SqliteViewStorage({ path });
          const runner = new ProjectionRunner({ log, storage, projections: [countingProjection({ name: 'counting' })], batchSize });
          try {
            await runner.start();
            for (let i = 0; i < events; i++) await log.append(`s${i % 3}`, [{ type: 'Added', data: { n: i } }]);
            const seen: RebuildProgress[] = [];
            await runner.rebuild('counting', { onProgress: (p) => seen.push(p), progressEveryMs });
            expect(seen.length).toBeGreaterThan(0);
            for (let i = 1; i < seen.length; i++) expect(seen[i]!.processed).toBeGreaterThan(seen[i - 1]!.processed);
            expect(seen.at(-1)!.processed).toBe(events);
            expect(seen.at(-1)!.total).toBe(events);
            if (progressEveryMs === 0) expect(seen.map((p) => p.processed)).toEqual(pages(events, batchSize));
          } finally {
            await runner.close();
            await log.close();
            if (kind === 'sqlite') await storage.close();
          }
        }),
        { numRuns: kind === 'memory' ? 60 : 20 },
      );
    }, 120_000);
  }
});

/** The processed counts after each page of `batchSize` (0 alone for an empty log). */
function pages(events: number, batchSize: number): number[] {
  if (events === 0) return [0];
  const out: number[] = [];
  for (let n = batchSize; n < events; n += batchSize) out.push(n);
  out.push(events);
  return out;
}
