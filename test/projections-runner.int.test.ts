/**
 * ProjectionRunner on the real servers: the property inline == async == rebuilt == fold of the log
 * on PostgreSQL (inline in the log's schema, async in another) and a PostgreSQL log projected into
 * Redis; a rebuild while four writers keep appending, with readers of the live views that never
 * fail and never see an event twice; a failing projection stops alone; a throwing inline
 * projection aborts the PostgreSQL append.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, test } from 'vitest';
import { ProjectionRunner } from '../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../src/postgres.js';
import { RedisViewStorage } from '../src/redis.js';
import { countingProjection, foldLog, readCounting, summary } from './support/projection-counting.js';
import { runScenario, scenarioArb } from './support/projection-property.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { POSTGRES_URL, REDIS_URL, requireService, uniqueName } from './support/services.js';
import { deleteByPrefix } from './fixtures/redis-keys.js';

const pgUp = await requireService('PostgreSQL', POSTGRES_URL);
const redisUp = pgUp && (await requireService('Redis', REDIS_URL));
const schemas: string[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  if (pgUp) await dropSchemas(schemas);
  if (redisUp && prefixes.length > 0) {
    const r = new Redis(REDIS_URL);
    for (const p of prefixes) await deleteByPrefix(r, p);
    await r.quit();
  }
});

function pgLog(): { log: PostgresEventLog; schema: string } {
  const schema = uniqueSchema('proj');
  schemas.push(schema, `${schema}_v`);
  return { log: new PostgresEventLog({ connectionString: postgresUrl(), schema }), schema };
}

describe.skipIf(!pgUp)('ProjectionRunner property on PostgreSQL and Redis', () => {
  test('PostgreSQL log, inline views in its schema, async views in another (30 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const { log, schema } = pgLog();
        const inline = new PostgresViewStorage({ connectionString: postgresUrl(), schema });
        const other = new PostgresViewStorage({ connectionString: postgresUrl(), schema: `${schema}_v` });
        await runScenario({ log, inline, async: other, cleanup: async () => (await log.close(), await inline.close(), await other.close()) }, sc);
      }),
      { numRuns: 30 },
    );
  }, 300_000);

  test.skipIf(!redisUp)('PostgreSQL log projected into Redis views (async, 20 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (sc) => {
        const { log } = pgLog();
        const prefix = uniqueName('projr');
        prefixes.push(prefix);
        const views = new RedisViewStorage({ url: REDIS_URL, prefix });
        await runScenario({ log, async: views, cleanup: async () => (await log.close(), await views.close()) }, sc);
      }),
      { numRuns: 20 },
    );
  }, 300_000);
});

describe.skipIf(!pgUp)('rebuild while appends continue (PostgreSQL)', () => {
  test('inline and async views rebuilt under four writers equal a fresh fold; live reads never failed nor saw an event twice', async () => {
    const { log, schema } = pgLog();
    const views = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    const runner = new ProjectionRunner({ log, storage: views, batchMs: 5, projections: [countingProjection({ name: 'inl' }), { projection: countingProjection({ name: 'asy' }), mode: 'async' }] });
    await runner.start();
    for (let i = 0; i < 20; i++) await log.appendMany(Array.from({ length: 5 }, (_, s) => ({ stream: `pre-${s}`, events: Array.from({ length: 20 }, (_, k) => ({ type: k % 4 === 0 ? 'Other' : 'Added', data: { n: i * 100 + k } })) })));
    let writing = true;
    const writers = Array.from({ length: 4 }, async (_, w) => {
      let n = 0;
      while (writing || n < 50) await log.append(`w-${w}`, [{ type: 'Added', data: { n: ++n } }, { type: 'Other', data: {} }]);
      return n;
    });
    let reads = 0;
    let reading = true;
    const readers = ['inl', 'asy'].map(async (name) => {
      while (reading) {
        const v = summary(await readCounting(views, name)); // a failing read fails the test
        expect(v.duplicates).toEqual([]);
        expect(v.positions.length).toBeGreaterThan(0);
        reads++;
      }
    });
    const progress: number[] = [];
    await Promise.all([runner.rebuild('inl', { onProgress: (p) => progress.push(p.processed), progressEveryMs: 1 }), runner.rebuild('asy')]);
    writing = false;
    await Promise.all(writers);
    await runner.whenCaughtUp();
    reading = false;
    await Promise.all(readers);
    const model = await foldLog(log);
    for (const name of ['inl', 'asy']) expect(summary(await readCounting(views, name)), name).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
    const status = await runner.status();
    expect(status.map((s) => [s.name, s.generation, s.state])).toEqual([
      ['inl', 2, 'running'],
      ['asy', 2, 'running'],
    ]);
    expect(reads).toBeGreaterThan(2);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toBeGreaterThanOrEqual(2000);
    await runner.close();
    await log.close();
    await views.close();
  }, 120_000);

  test('a failing async projection stops alone; a throwing inline projection aborts the append', async () => {
    const { log, schema } = pgLog();
    const views = new PostgresViewStorage({ connectionString: postgresUrl(), schema });
    const runner = new ProjectionRunner({
      log,
      storage: views,
      batchMs: 5,
      projections: [countingProjection({ name: 'inl', failOn: 99 }), { projection: countingProjection({ name: 'good' }), mode: 'async' }, { projection: countingProjection({ name: 'bad', failOn: 5 }), mode: 'async' }],
    });
    await runner.start();
    for (let n = 1; n <= 10; n++) await log.append('s', [{ type: 'Added', data: { n } }]);
    await expect(log.append('s', [{ type: 'Added', data: { n: 99 } }])).rejects.toThrow(/refusing n=99/);
    expect(await log.revision('s')).toBe(10);
    await runner.whenCaughtUp({ name: 'good' });
    await expect(runner.whenCaughtUp({ name: 'bad' })).rejects.toThrow(/refusing n=5/);
    const byName = Object.fromEntries((await runner.status()).map((s) => [s.name, s]));
    expect(byName.good).toMatchObject({ state: 'running', position: 10 });
    expect(byName.bad).toMatchObject({ state: 'failed', position: 4 });
    expect(byName.bad!.lastError).toMatchObject({ position: 5 });
    expect(summary(await readCounting(views, 'inl')).sum).toBe(55);
    await runner.close();
    await log.close();
    await views.close();
  }, 60_000);
});

describe.skipIf(!pgUp)('storage outages', () => {
  test('an async projection retries BackendUnavailableError with backoff and resumes exactly once after the outage', async () => {
    const { startTcpProxy } = await import('./support/tcp-proxy.js');
    const proxy = await startTcpProxy(postgresUrl());
    const { log, schema } = pgLog();
    const views = new PostgresViewStorage({ connectionString: proxy.url(postgresUrl()), schema: `${schema}_v`, generationCacheMs: 0 });
    const runner = new ProjectionRunner({ log, storage: views, batchMs: 5, maxBackoffMs: 200, projections: [{ projection: countingProjection({ name: 'cnt' }), mode: 'async' }] });
    try {
      await runner.start();
      for (let n = 1; n <= 30; n++) await log.append(`s${n % 2}`, [{ type: 'Added', data: { n } }]);
      await runner.whenCaughtUp();
      proxy.cut();
      for (let n = 31; n <= 60; n++) await log.append(`s${n % 2}`, [{ type: 'Added', data: { n } }]);
      const { BackendUnavailableError } = await import('../src/index.js');
      for (let i = 0; ; i++) {
        const [s] = await runner.status();
        if (s!.lastError?.error instanceof BackendUnavailableError) break;
        if (i > 3000) throw new Error('the outage was never reported in status()');
        await new Promise((r) => setTimeout(r, 10));
      }
      const [during] = await runner.status();
      expect(during!.state).not.toBe('failed');
      proxy.restore();
      await runner.whenCaughtUp({ timeoutMs: 60_000 });
      const model = await foldLog(log);
      expect(summary(await readCounting(views, 'cnt'))).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
    } finally {
      await runner.close();
      await log.close();
      await views.close();
      await proxy.close();
    }
  }, 120_000);
});
