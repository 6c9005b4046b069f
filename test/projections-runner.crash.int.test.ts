/**
 * Crash safety of async projections: a runner process is SIGKILLed 30 times at random moments
 * (during start-up, while waiting for the dead holder's lease, while applying batches) while
 * another process appends. Afterwards one more runner catches up, and the counting view shows
 * every handled event applied exactly once (no duplicate from a batch committed but not
 * acknowledged, no gap from a checkpoint ahead of its view).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, expect, test } from 'vitest';
import { ProjectionRunner, SqliteEventLog, SqliteViewStorage } from '../src/index.js';
import { countingProjection, foldLog, readCounting, summary } from './support/projection-counting.js';
import { spawnChild } from './support/projection-processes.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-proj-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const KILLS = 30;

test(`an async runner SIGKILLed ${KILLS} times while another process appends applies every event exactly once`, async () => {
  const seed = Date.now() % 1_000_000;
  const delays = fc.sample(fc.integer({ min: 0, max: 250 }), { seed, numRuns: KILLS });
  // appends until killed after the last runner kill, so every kill happens while it appends
  const appender = spawnChild(['append', 'sqlite', dir, '1000000', '10']);
  const log = new SqliteEventLog({ path: join(dir, 'log.db') });
  const appendedAtFirstKill: number[] = [];
  let killedWhileLeading = 0;
  for (let i = 0; i < KILLS; i++) {
    const r = spawnChild(['runner', 'sqlite', dir, `r${i}`, '300']);
    if (i % 2 === 0) {
      // while it holds the lease and applies batches
      await r.waitFor(/^state \S+ true$/);
      killedWhileLeading++;
    } else {
      // anywhere from start-up to waiting out the previous holder's lease
      await r.waitFor(/^ready$/);
    }
    await new Promise((res) => setTimeout(res, delays[i]));
    await r.kill();
    if (i === 0) appendedAtFirstKill.push(await log.revision('s-1'));
  }
  const appendedAtLastKill = await log.revision('s-1');
  await appender.kill();

  const views = new SqliteViewStorage({ path: join(dir, 'views.db') });
  const before = summary(await (async () => (await views.init(), readCounting(views, 'cnt')))());
  const runner = new ProjectionRunner({ log, storage: views, owner: 'final', leaseMs: 300, projections: [{ projection: countingProjection({ name: 'cnt', tag: 'final' }), mode: 'async' }] });
  await runner.start();
  await runner.whenCaughtUp({ timeoutMs: 60_000 });
  const model = await foldLog(log);
  expect(appendedAtLastKill).toBeGreaterThan(appendedAtFirstKill[0]!); // the other process appended throughout
  expect(killedWhileLeading).toBe(KILLS / 2);
  expect(before.duplicates).toEqual([]);
  expect(before.positions.length, `seed ${seed}: the killed runners applied events`).toBeGreaterThan(0);
  expect(summary(await readCounting(views, 'cnt')), `seed ${seed}`).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
  await runner.close();
  await log.close();
  await views.close();
}, 400_000);
