/**
 * A script that forgets close() still exits once its work is done: the pools and connections a
 * backend creates from a URL do not keep an idle process alive (pg `allowExitOnIdle`; the Redis
 * socket and reconnect timer are ref'd only while a command waits for its reply). Each scenario
 * runs in a child process (test/fixtures/exit-on-idle.ts) that must exit by itself with code 0;
 * a child still running after KILL_AFTER_MS is killed and the test fails. The child also reports
 * what keeps its event loop alive right after the work (it must be nothing), so a pool that would
 * linger until an idle timeout fails too, without a timing threshold.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RedisAgent } from '../src/agents/redis-agent.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { postgresUrl } from './support/postgres.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/exit-on-idle.ts', import.meta.url));
/** generous: the failure mode is "never exits"; a loaded 2-core machine starts tsx in seconds */
const KILL_AFTER_MS = 90_000;

const redisUp = await requireService('Redis', REDIS_URL);
const pgUp = await requireService('PostgreSQL', postgresUrl());

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** what kept the event loop alive once the work was done, as the child saw it */
  alive: string[] | undefined;
  stderr: string;
}

function runScenario(scenario: string, onReady?: () => void, name?: string): Promise<Outcome & { stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, scenario, ...(name ? [name] : [])], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DGENT_REDIS_URL: REDIS_URL, DGENT_POSTGRES_URL: postgresUrl() },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      if (onReady && !out.includes('ready\n') && (out + c).includes('ready\n')) onReady();
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      const line = out.split('\n').find((l) => l.startsWith('done '));
      resolve({ code, signal, alive: line ? (JSON.parse(line.slice(5)) as string[]) : undefined, stderr: err, stdout: out });
    });
  });
}

/** `idleAtOnce`: nothing may keep the loop alive right after the work (false where a QUIT is still on its way) */
async function expectExits(scenario: string, idleAtOnce = true): Promise<void> {
  const r = await runScenario(scenario);
  expect(r.signal, `${scenario} did not exit by itself (killed after ${KILL_AFTER_MS} ms)\n${r.stderr}`).toBeNull();
  expect(r.code, r.stderr).toBe(0);
  expect(r.alive, 'the child finished its work').toBeDefined();
  if (idleAtOnce) expect(r.alive, 'what kept the event loop alive after the work').toEqual([]);
}

describe.skipIf(!redisUp)('Redis: a script without close() exits', () => {
  it('RedisAgent: save, update, load, no close()', () => expectExits('redis-agent'), KILL_AFTER_MS + 30_000);
  it('RedisAgent with Redis unreachable: a failed save, no close()', () => expectExits('redis-agent-unreachable'), KILL_AFTER_MS + 30_000);
  it('RedisAgent that subscribed and unsubscribed, no close()', () => expectExits('redis-agent-unsubscribed', false), KILL_AFTER_MS + 30_000);
  it('RedisAgent with a live subscription stays alive until its listener unsubscribes, then exits', async () => {
    const name = uniqueName('exit_sub');
    const saver = new RedisAgent<{ n: number }>({ url: REDIS_URL, prefix: `${name}:`, key: 'k', ttlMs: 60_000 });
    try {
      const r = await runScenario('redis-agent-subscribed', () => void saver.save({ n: 7 }), name);
      expect(r.signal, `did not exit by itself\n${r.stderr}`).toBeNull();
      expect(r.code, r.stderr).toBe(0);
      // the process was still there to receive the save made after it finished its own work
      expect(r.stdout).toContain('got 7\n');
    } finally {
      await saver.close();
    }
  }, KILL_AFTER_MS + 30_000);
  it('RedisEventLog: append, read, no close()', () => expectExits('redis-log'), KILL_AFTER_MS + 30_000);
});

describe.skipIf(!pgUp)('PostgreSQL: a script without close() exits', () => {
  it('SQLAgent (PostgreSQL): save, load, no close()', () => expectExits('sql-agent-postgres'), KILL_AFTER_MS + 30_000);
  it('PostgresEventLog: append, readAll, no close()', () => expectExits('postgres-log'), KILL_AFTER_MS + 30_000);
});
