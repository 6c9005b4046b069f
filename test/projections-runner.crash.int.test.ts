/**
 * Crash safety of async projections: a runner process is SIGKILLed at random moments (during
 * start-up, while waiting for the dead holder's lease, while applying batches) while another
 * process appends: 30 times on SQLite (log and views in two files), 12 times on PostgreSQL (log
 * and views in two schemas). Afterwards one more runner catches up, and the counting view shows
 * every handled event applied exactly once (no duplicate from a batch committed but not
 * acknowledged, no gap from a checkpoint ahead of its view).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { ProjectionRunner, SqliteEventLog, SqliteViewStorage, type EventLog, type ViewStorage } from '../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../src/postgres.js';
import { countingProjection, foldLog, readCounting, summary } from './support/projection-counting.js';
import { spawnChild } from './support/projection-processes.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { POSTGRES_URL, requireService } from './support/services.js';

const pgUp = await requireService('PostgreSQL', POSTGRES_URL);
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

interface Env {
  target: string;
  log: EventLog;
  views: ViewStorage;
}

function sqliteEnv(): Env {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-proj-crash-'));
  const log = new SqliteEventLog({ path: join(dir, 'log.db'), busyTimeoutMs: 30_000 });
  const views = new SqliteViewStorage({ path: join(dir, 'views.db'), busyTimeoutMs: 30_000 });
  cleanups.push(async () => (await log.close(), await views.close(), rmSync(dir, { recursive: true, force: true })));
  return { target: dir, log, views };
}

function postgresEnv(): Env {
  const schema = uniqueSchema('crash');
  const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
  const views = new PostgresViewStorage({ connectionString: postgresUrl(), schema: `${schema}_v`, generationCacheMs: 0 });
  cleanups.push(async () => (await log.close(), await views.close(), await dropSchemas([schema, `${schema}_v`])));
  return { target: `${postgresUrl()}#${schema}`, log, views };
}

const kinds = [
  ['sqlite', sqliteEnv, 30, true],
  ['postgres', postgresEnv, 12, pgUp],
] as const;

describe.each(kinds)('async runner crash (%s)', (kind, makeEnv, kills, enabled) => {
  test.skipIf(!enabled)(`SIGKILLed ${kills} times while another process appends, it applies every event exactly once`, async () => {
    const env = makeEnv();
    const seed = Date.now() % 1_000_000;
    const delays = fc.sample(fc.integer({ min: 0, max: 250 }), { seed, numRuns: kills });
    // appends until killed after the last runner kill, so every kill happens while it appends
    const appender = spawnChild(['append', kind, env.target, '1000000', '10']);
    let appendedAtFirstKill = -1;
    let killedWhileLeading = 0;
    try {
      for (let i = 0; i < kills; i++) {
        const r = spawnChild(['runner', kind, env.target, `r${i}`, '300']);
        if (i % 2 === 0) {
          await r.waitFor(/^state \S+ true$/); // while it holds the lease and applies batches
          killedWhileLeading++;
        } else {
          await r.waitFor(/^ready$/); // anywhere from start-up to waiting out the previous holder's lease
        }
        await new Promise((res) => setTimeout(res, delays[i]));
        await r.kill();
        if (i === 0) appendedAtFirstKill = await env.log.revision('s-1');
      }
    } finally {
      await appender.kill();
    }
    const appendedAtLastKill = await env.log.revision('s-1');
    await (env.views as unknown as { init(): Promise<void> }).init();
    const before = summary(await readCounting(env.views, 'cnt'));
    const runner = new ProjectionRunner({ log: env.log, storage: env.views, owner: 'final', leaseMs: 300, projections: [{ projection: countingProjection({ name: 'cnt', tag: 'final' }), mode: 'async' }] });
    await runner.start();
    await runner.whenCaughtUp({ timeoutMs: 60_000 });
    const model = await foldLog(env.log);
    expect(appendedAtLastKill).toBeGreaterThan(appendedAtFirstKill); // the other process appended throughout
    expect(killedWhileLeading).toBe(Math.ceil(kills / 2));
    expect(before.duplicates).toEqual([]);
    expect(before.positions.length, `seed ${seed}: the killed runners applied events`).toBeGreaterThan(0);
    expect(summary(await readCounting(env.views, 'cnt')), `seed ${seed}`).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
    await runner.close();
  }, 400_000);
});
