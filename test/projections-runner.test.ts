/**
 * ProjectionRunner on memory and SQLite (no services): inline == async == rebuilt == the fold of
 * the log (property), a throwing inline projection aborts the append, a failing async projection
 * stops alone with its error in status(), rebuild under appends never breaks the live view.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { FileEventLog, MemoryEventLog, MemoryViewStorage, ProjectionRunner, SqliteEventLog, SqliteViewStorage, ValidationError, defineProjection } from '../src/index.js';
import { countingProjection, foldLog, readCounting, summary } from './support/projection-counting.js';
import { runScenario, scenarioArb } from './support/projection-property.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'dgent-proj-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('ProjectionRunner property: inline == async == rebuilt == fold of the log', () => {
  test('memory log and memory views (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const log = new MemoryEventLog();
        const views = new MemoryViewStorage();
        await runScenario({ log, inline: views, async: views, cleanup: () => log.close() }, sc);
      }),
      { numRuns: 100 },
    );
  });

  test('SQLite log, inline views in its file, async views in another file (40 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const dir = tempDir();
        const log = new SqliteEventLog({ path: join(dir, 'log.db') });
        const inline = new SqliteViewStorage({ path: join(dir, 'log.db') });
        const other = new SqliteViewStorage({ path: join(dir, 'views.db') });
        await runScenario({ log, inline, async: other, cleanup: async () => (await log.close(), await inline.close(), await other.close()) }, sc);
      }),
      { numRuns: 40 },
    );
  });

  test('file log projected into SQLite views (async, 15 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const dir = tempDir();
        const log = new FileEventLog({ dir: join(dir, 'log') });
        const views = new SqliteViewStorage({ path: join(dir, 'views.db') });
        await runScenario({ log, async: views, cleanup: async () => (await log.close(), await views.close()) }, sc);
      }),
      { numRuns: 15 },
    );
  });
});

describe('inline projections', () => {
  for (const kind of ['memory', 'sqlite'] as const) {
    test(`a throwing inline projection aborts the append on ${kind}: nothing stored, the view unchanged`, async () => {
      const dir = tempDir();
      const log = kind === 'memory' ? new MemoryEventLog() : new SqliteEventLog({ path: join(dir, 'log.db') });
      const views = kind === 'memory' ? new MemoryViewStorage() : new SqliteViewStorage({ path: join(dir, 'log.db') });
      const ok = countingProjection({ name: 'ok' });
      const bad = countingProjection({ name: 'bad', failOn: 13 });
      const runner = new ProjectionRunner({ log, storage: views, projections: [ok, bad] });
      await runner.start();
      await log.append('a', [{ type: 'Added', data: { n: 1 } }]);
      await expect(log.append('a', [{ type: 'Added', data: { n: 2 } }, { type: 'Added', data: { n: 13 } }])).rejects.toThrow(/refusing n=13/);
      expect(await log.revision('a')).toBe(1);
      expect((await foldLog(log)).sum).toBe(1);
      for (const n of ['ok', 'bad']) expect(summary(await readCounting(views, n))).toEqual({ positions: [1], sum: 1, duplicates: [] });
      const [, badStatus] = await runner.status();
      expect(badStatus!.lastError?.error).toBeInstanceOf(Error);
      await log.append('a', [{ type: 'Added', data: { n: 5 } }]);
      expect(summary(await readCounting(views, 'ok')).sum).toBe(6);
      await runner.close();
      await log.close();
      await views.close();
    });
  }
});

describe('failures', () => {
  test('an async projection that cannot apply an event stops alone, with the position and error in status()', async () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    const runner = new ProjectionRunner({ log, storage: views, projections: [{ projection: countingProjection({ name: 'good' }), mode: 'async' }, { projection: countingProjection({ name: 'bad', failOn: 7 }), mode: 'async' }], batchSize: 4, batchMs: 5 });
    await runner.start();
    for (let n = 1; n <= 12; n++) await log.append(`s${n % 3}`, [{ type: 'Added', data: { n } }]);
    await runner.whenCaughtUp({ name: 'good' });
    await expect(runner.whenCaughtUp({ name: 'bad' })).rejects.toThrow(/refusing n=7/);
    const [good, bad] = await runner.status();
    expect(good).toMatchObject({ state: 'running', position: 12, lagEvents: 0 });
    expect(bad).toMatchObject({ state: 'failed', position: 6, lagEvents: 6 });
    expect(bad!.lastError).toMatchObject({ position: 7, eventType: 'Added' });
    expect(String(bad!.lastError!.error)).toMatch(/refusing n=7/);
    // the events before the bad one are applied once each (the batch was split to find it), nothing after
    expect(summary(await readCounting(views, 'bad'))).toEqual({ positions: [1, 2, 3, 4, 5, 6], sum: 21, duplicates: [] });
    await log.append('late', [{ type: 'Added', data: { n: 100 } }]);
    await runner.whenCaughtUp({ name: 'good' });
    expect(summary(await readCounting(views, 'good')).sum).toBe(178);
    await runner.close();
  });

  test('SQLite views: rebuilds running together share transactions, and a projection that cannot apply an event fails alone (its batch rolled back to its savepoint, the others committed)', async () => {
    const dir = tempDir();
    const log = new SqliteEventLog({ path: join(dir, 'log.db') });
    const views = new SqliteViewStorage({ path: join(dir, 'views.db') });
    const runner = new ProjectionRunner({ log, storage: views, projections: ['a', 'b', 'c'].map((name) => ({ projection: countingProjection({ name, failOn: name === 'b' ? 37 : undefined }), mode: 'async' as const })), batchSize: 10, batchMs: 5 });
    for (let n = 1; n <= 60; n++) await log.append(`s${n % 4}`, [{ type: 'Added', data: { n: n === 37 ? 1000 : n } }]);
    await runner.start();
    await runner.whenCaughtUp({ name: 'a' });
    await runner.whenCaughtUp({ name: 'c' });
    await log.append('late', [{ type: 'Added', data: { n: 37 } }]);
    // the three rebuilds read the log's pages together and commit each page in one transaction
    const results = await Promise.allSettled(['a', 'b', 'c'].map((name) => runner.rebuild(name)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/refusing n=37/);
    const sum = 1000 - 37 + 37 + (60 * 61) / 2;
    for (const name of ['a', 'c']) expect(summary(await readCounting(views, name))).toEqual({ positions: Array.from({ length: 61 }, (_, i) => i + 1), sum, duplicates: [] });
    await runner.close();
    await views.close();
    await log.close();
  });

  test('configuration mistakes are ValidationError', () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    const p = countingProjection();
    expect(() => defineProjection({ name: 'Bad Name', version: 1, handles: ['x'], apply() {} })).toThrow(ValidationError);
    expect(() => defineProjection({ name: 'a__b', version: 1, handles: ['x'], apply() {} })).toThrow(ValidationError);
    expect(() => defineProjection({ name: 'ok', version: 0, handles: ['x'], apply() {} })).toThrow(ValidationError);
    expect(() => defineProjection({ name: 'ok', version: 1, handles: [], apply() {} })).toThrow(ValidationError);
    expect(() => new ProjectionRunner({ log, storage: views, projections: [] })).toThrow(ValidationError);
    expect(() => new ProjectionRunner({ log, projections: [p] })).toThrow(ValidationError);
    expect(() => new ProjectionRunner({ log, storage: views, projections: [p, p] })).toThrow(ValidationError);
    const dir = tempDir();
    const other = new SqliteViewStorage({ path: join(dir, 'v.db') });
    expect(() => new ProjectionRunner({ log, projections: [{ projection: p, mode: 'inline', storage: other }] })).toThrow(/cannot run inline/);
    expect(() => new ProjectionRunner({ log, storage: views, projections: [p], batchSize: 0 })).toThrow(ValidationError);
  });
});

describe('version bump', () => {
  test('bumping version rebuilds on start, blue-green: the old generation serves meanwhile, then the new one has every event once (SQLite inline, memory async)', async () => {
    const dir = tempDir();
    const log = new SqliteEventLog({ path: join(dir, 'log.db') });
    const views = new SqliteViewStorage({ path: join(dir, 'log.db'), generationCacheMs: 0 });
    const mem = new MemoryViewStorage();
    const v1 = new ProjectionRunner({ log, projections: [{ projection: countingProjection({ name: 'inl', tag: 'v1' }), storage: views }, { projection: countingProjection({ name: 'asy' }), storage: mem, mode: 'async' }] });
    await v1.start();
    for (let n = 1; n <= 300; n++) await log.append(`s${n % 4}`, [{ type: 'Added', data: { n } }]);
    await v1.whenCaughtUp();
    await v1.close();

    const v2 = new ProjectionRunner({ log, batchSize: 10, projections: [{ projection: countingProjection({ name: 'inl', version: 2, tag: 'v2' }), storage: views }, { projection: countingProjection({ name: 'asy', version: 2 }), storage: mem, mode: 'async' }] });
    await v2.start();
    // appends go on during the rebuild; the old generation keeps answering reads
    for (let n = 301; n <= 340; n++) {
      await log.append(`s${n % 4}`, [{ type: 'Added', data: { n } }]);
      expect(summary(await readCounting(views, 'inl')).duplicates).toEqual([]);
      expect(summary(await readCounting(mem, 'asy')).duplicates).toEqual([]);
    }
    await v2.whenCaughtUp();
    const model = await foldLog(log);
    const expected = { positions: model.positions, sum: model.sum, duplicates: [] };
    expect(summary(await readCounting(views, 'inl'))).toEqual(expected);
    expect(summary(await readCounting(mem, 'asy'))).toEqual(expected);
    const t = await views.table('inl', 'applied');
    expect(views.db.prepare(`SELECT DISTINCT tag FROM ${t}`).all()).toEqual([{ tag: 'v2' }]);
    expect((await v2.status()).map((s) => [s.name, s.version, s.generation])).toEqual([
      ['inl', 2, 2],
      ['asy', 2, 2],
    ]);
    await v2.close();
    await log.close();
    await views.close();
  });
});

describe('mode changes', () => {
  test('an inline projection whose view is behind the log (it ran async) is refused with ValidationError, not folded with a gap', async () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    const asyncRunner = new ProjectionRunner({ log, storage: views, projections: [{ projection: countingProjection({ name: 'c' }), mode: 'async' }] });
    await asyncRunner.start();
    await log.append('a', [{ type: 'Added', data: { n: 1 } }]);
    await asyncRunner.whenCaughtUp();
    await asyncRunner.close();
    await log.append('a', [{ type: 'Added', data: { n: 2 } }]); // nobody folds this one
    const inline = new ProjectionRunner({ log, storage: views, projections: [{ projection: countingProjection({ name: 'c' }), mode: 'inline' }] });
    await expect(inline.start()).rejects.toThrow(/cannot run inline from here/);
    await log.append('a', [{ type: 'Added', data: { n: 3 } }]); // the refused runner's hook is gone
    expect(summary(await readCounting(views, 'c'))).toEqual({ positions: [1], sum: 1, duplicates: [] });
    const bumped = new ProjectionRunner({ log, storage: views, projections: [{ projection: countingProjection({ name: 'c', version: 2 }), mode: 'inline' }] });
    await bumped.start();
    await bumped.whenCaughtUp();
    expect(summary(await readCounting(views, 'c'))).toEqual({ positions: [1, 2, 3], sum: 6, duplicates: [] });
    await bumped.close();
  });
});

describe('status and whenCaughtUp', () => {
  test('status() reports lag in events and ms while an async projection is behind, a standby as standby, and running at 0 once caught up', async () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const slow = defineProjection({
      name: 'slow',
      version: 1,
      handles: '*',
      async apply(events, ctx) {
        await gate;
        if (ctx.storage === 'memory') for (const e of events) ctx.map<number, number>('seen').set(e.position, 1);
      },
    });
    const runner = new ProjectionRunner({ log, storage: views, batchSize: 100, batchMs: 1, projections: [{ projection: slow, mode: 'async' }] });
    const standby = new ProjectionRunner({ log, storage: views, owner: 'standby', projections: [{ projection: slow, mode: 'async' }] });
    await runner.start();
    await runner.whenCaughtUp();
    await standby.start();
    for (let n = 1; n <= 5; n++) await log.append('s', [{ type: 'X', data: { n } }]);
    await new Promise((r) => setTimeout(r, 20));
    const [behind] = await runner.status();
    expect(behind).toMatchObject({ state: 'catching_up', position: 0, lagEvents: 5, leader: true });
    expect(behind!.lagMs).toBeGreaterThanOrEqual(0);
    expect((await standby.status())[0]).toMatchObject({ state: 'standby', leader: false });
    const caughtUp = runner.whenCaughtUp({ position: 5 });
    open();
    await caughtUp;
    expect((await runner.status())[0]).toMatchObject({ state: 'running', position: 5, lagEvents: 0, lagMs: 0 });
    await expect(standby.whenCaughtUp({ position: 99, timeoutMs: 50 })).rejects.toThrow(/did not reach position 99/);
    await runner.close();
    await standby.close();
  });
});

describe('mixed versions', () => {
  test('a process still running an older version of an inline projection has its appends refused once the view is at a newer version', async () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    const v1 = new ProjectionRunner({ log, storage: views, projections: [countingProjection({ name: 'c', version: 1 })] });
    await v1.start();
    await log.append('a', [{ type: 'Added', data: { n: 1 } }]);
    // the upgraded process (same log and views here; another process in production)
    const v2 = new ProjectionRunner({ log, storage: views, projections: [countingProjection({ name: 'c', version: 2 })] });
    await v2.start();
    await v2.whenCaughtUp();
    await expect(log.append('a', [{ type: 'Added', data: { n: 2 } }])).rejects.toThrow(/runs version 1 but its view is at version 2/);
    expect(await log.revision('a')).toBe(1);
    await v1.close(); // the old process goes away
    await log.append('a', [{ type: 'Added', data: { n: 3 } }]);
    expect(summary(await readCounting(views, 'c'))).toEqual({ positions: [1, 2], sum: 4, duplicates: [] });
    await v2.close();
  });
});

describe('rebuild while appends continue (memory)', () => {
  test('an inline rebuild under four in-process writers switches and equals a fresh fold', async () => {
    const log = new MemoryEventLog();
    const views = new MemoryViewStorage();
    const runner = new ProjectionRunner({ log, storage: views, projections: [countingProjection({ name: 'inl' })] });
    await runner.start();
    for (let i = 0; i < 2000; i++) await log.append('p', [{ type: 'Added', data: { n: i } }]);
    // two writers yield to I/O between appends, two only to the microtask queue (they interleave
    // with the rebuild's own steps, so appends land between its last read and its switch)
    let rebuilding = true;
    let appendedDuringRebuild = 0;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; i < 400; i++) {
        await log.append(`w${w}`, [{ type: 'Added', data: { n: 1 } }]);
        if (rebuilding) appendedDuringRebuild++;
        await (w % 2 === 0 ? new Promise((r) => setImmediate(r)) : null);
      }
    });
    await runner.rebuild('inl');
    rebuilding = false;
    await Promise.all(writers);
    expect(appendedDuringRebuild).toBeGreaterThan(0);
    const model = await foldLog(log);
    expect(summary(await readCounting(views, 'inl'))).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
    expect((await runner.status())[0]).toMatchObject({ generation: 2, state: 'running' });
    await runner.close();
  });
});
