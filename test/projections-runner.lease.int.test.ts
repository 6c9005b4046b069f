/**
 * Two runner processes of one async projection (views on SQLite, PostgreSQL, and Redis over a
 * PostgreSQL log): only one applies at a time (the positions each
 * applied form one contiguous block, the standby's after the holder's), and after a SIGKILL of
 * the holder the standby takes over and finishes with every event applied exactly once.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, test } from 'vitest';
import { SqliteEventLog, SqliteViewStorage, type EventLog, type ViewStorage } from '../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../src/postgres.js';
import { foldLog, readCounting, summary } from './support/projection-counting.js';
import { spawnChild, type Child } from './support/projection-processes.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { POSTGRES_URL, REDIS_URL, requireService } from './support/services.js';
import { RedisViewStorage } from '../src/redis.js';
import { deleteByPrefix } from './fixtures/redis-keys.js';
import type { Redis } from 'ioredis';

const pgUp = await requireService('PostgreSQL', POSTGRES_URL);
const redisUp = pgUp && (await requireService('Redis', REDIS_URL));
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

interface Env {
  target: string;
  /** SQLite: the views' file, whose write lock a frozen holder may keep (see stopOutsideTransaction) */
  viewsFile?: string;
  log: EventLog;
  views: ViewStorage;
  tags(): Promise<{ position: number; tag: string }[]>;
}

function sqliteEnv(): Env {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-lease-'));
  const log = new SqliteEventLog({ path: join(dir, 'log.db'), busyTimeoutMs: 30_000 });
  const views = new SqliteViewStorage({ path: join(dir, 'views.db'), busyTimeoutMs: 30_000 });
  cleanups.push(async () => (await log.close(), await views.close(), rmSync(dir, { recursive: true, force: true })));
  return {
    target: dir,
    viewsFile: join(dir, 'views.db'),
    log,
    views,
    async tags() {
      await views.init();
      const t = await views.table('cnt', 'applied');
      return t ? (views.db.prepare(`SELECT position, tag FROM ${t} ORDER BY position`).all() as { position: number; tag: string }[]) : [];
    },
  };
}

function postgresEnv(): Env {
  const schema = uniqueSchema('lease');
  const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
  const views = new PostgresViewStorage({ connectionString: postgresUrl(), schema: `${schema}_v`, generationCacheMs: 0 });
  cleanups.push(async () => (await log.close(), await views.close(), await dropSchemas([schema, `${schema}_v`])));
  return {
    target: `${postgresUrl()}#${schema}`,
    log,
    views,
    async tags() {
      const t = await views.table('cnt', 'applied');
      return t ? (await views.query(`SELECT position::int AS position, tag FROM ${t} ORDER BY position`)).rows : [];
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether some process keeps the write lock of the SQLite file `path` (held at every look over ~100 ms). */
async function writeLockHeld(path: string): Promise<boolean> {
  const db = new Database(path, { timeout: 0 });
  try {
    for (let i = 0; i < 5; i++) {
      try {
        db.exec('BEGIN IMMEDIATE');
        db.exec('ROLLBACK');
        return false;
      } catch (e) {
        if ((e as { code?: string }).code !== 'SQLITE_BUSY') throw e;
      }
      await sleep(20);
    }
    return true;
  } finally {
    db.close();
  }
}

/** Wait until process `pid` is stopped (state T in /proc; elsewhere, a moment). */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      await sleep(50); // no /proc here
      return;
    }
    // the state follows the command name, which is in parentheses and may hold spaces
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('T')) return;
    await sleep(5);
  }
  throw new Error(`process ${pid} did not stop`);
}

/**
 * SIGSTOP `child`, outside a write transaction of the SQLite file `viewsFile` when there is one.
 * A process frozen inside such a transaction keeps the file's write lock, and SQLite cannot take a
 * lock from a live process: nobody can write the file, the standby's lease takeover included,
 * until it resumes (a SIGKILLed holder's lock goes with it; PostgreSQL ends a frozen holder's
 * transaction after the lease's ttl). So when the child stopped holding the lock, it runs on for a
 * moment and is stopped again. The standby's own lease attempts hold the lock for an instant
 * only: a lock free at any look was not the frozen child's.
 */
async function stopOutsideTransaction(child: Child, viewsFile: string | undefined): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    child.proc.kill('SIGSTOP');
    await stopped(child.proc.pid!); // the signal is delivered asynchronously
    if (viewsFile === undefined || !(await writeLockHeld(viewsFile))) return;
    if (attempt === 50) throw new Error(`the stopped holder kept ${viewsFile}'s write lock in 50 attempts`);
    child.proc.kill('SIGCONT');
    await sleep(2 + attempt);
  }
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function appendSome(log: EventLog, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    await log.append(`s-${n % 3}`, [{ type: 'Added', data: { n } }, { type: 'Other', data: {} }]);
    if (n % 10 === 0) await new Promise((r) => setTimeout(r, 5));
  }
}

function redisEnv(): Env {
  const schema = uniqueSchema('leaser');
  const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
  const views = new RedisViewStorage({ url: REDIS_URL, prefix: schema, generationCacheMs: 0 });
  cleanups.push(async () => (await deleteByPrefix(views.redis as Redis, schema), await log.close(), await views.close(), await dropSchemas([schema])));
  return {
    target: `${postgresUrl()}#${schema}#${REDIS_URL}`,
    log,
    views,
    async tags() {
      const k = await views.key('cnt', 'tag');
      if (!k) return [];
      return Object.entries(await views.redis.hgetall(k))
        .map(([p, tag]) => ({ position: Number(p), tag }))
        .sort((x, y) => x.position - y.position);
    },
  };
}

const kinds = [
  ['sqlite', sqliteEnv, true],
  ['postgres', postgresEnv, pgUp],
  ['redis', redisEnv, redisUp],
] as const;

describe.each(kinds)('two runner processes of one projection (%s)', (kind, makeEnv, enabled) => {
  test.skipIf(!enabled)('only the lease holder applies; after SIGKILL of the holder the standby takes over; exactly once', async () => {
    const env = makeEnv();
    const children: Child[] = [];
    try {
      const a = spawnChild(['runner', kind, env.target, 'A', '2000']);
      children.push(a);
      await a.waitFor(/^state \S+ true$/);
      const b = spawnChild(['runner', kind, env.target, 'B', '2000']);
      children.push(b);
      await b.waitFor(/^state standby false$/);
      await appendSome(env.log, 1, 120);
      await until('A applying', async () => summary(await readCounting(env.views, 'cnt')).positions.length >= 40);
      const bBeforeKill = b.out();
      await a.kill();
      await appendSome(env.log, 121, 120);
      await b.waitFor(/^state \S+ true$/);
      const model = await foldLog(env.log);
      await until('B caught up', async () => summary(await readCounting(env.views, 'cnt')).positions.length === model.positions.length);

      expect(bBeforeKill).not.toMatch(/ true$/m); // B never held the lease while A lived
      expect(summary(await readCounting(env.views, 'cnt'))).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
      const tags = (await env.tags()).map((r) => r.tag);
      const firstB = tags.indexOf('B');
      expect(tags.slice(0, firstB).every((t) => t === 'A')).toBe(true);
      expect(tags.slice(firstB).every((t) => t === 'B')).toBe(true);
      expect(firstB).toBeGreaterThanOrEqual(40);
      expect(tags.length - firstB).toBeGreaterThan(0);
    } finally {
      for (const c of children) await c.kill();
    }
  }, 180_000);

  test.skipIf(!enabled)('a holder paused (SIGSTOP) until the standby took over cannot commit when it resumes: fencing', async () => {
    const env = makeEnv();
    const children: Child[] = [];
    // a longer lease than the SIGKILL test's: B must keep its lease from its takeover until A has
    // resumed and found it taken. With 1.5 s, a CI run under load once stalled B for longer than
    // that; its lease lapsed, resumed A took it back (legitimately: fencing kept the view exact)
    // and the test, waiting for A to stand by, timed out
    const leaseMs = '5000';
    try {
      const a = spawnChild(['runner', kind, env.target, 'A', leaseMs]);
      children.push(a);
      await a.waitFor(/^state \S+ true$/);
      const b = spawnChild(['runner', kind, env.target, 'B', leaseMs]);
      children.push(b);
      await b.waitFor(/^state standby false$/);
      await appendSome(env.log, 1, 60);
      await until('A applying', async () => summary(await readCounting(env.views, 'cnt')).positions.length >= 20);
      await stopOutsideTransaction(a, env.viewsFile); // alive, holding what it buffered, its lease running out
      await appendSome(env.log, 61, 60);
      await b.waitFor(/^state \S+ true$/);
      a.proc.kill('SIGCONT'); // its next commit or heartbeat finds the lease gone
      await appendSome(env.log, 121, 60);
      await a.waitFor(/^state standby false$/);
      const model = await foldLog(env.log);
      await until('B caught up', async () => summary(await readCounting(env.views, 'cnt')).positions.length === model.positions.length);
      expect(summary(await readCounting(env.views, 'cnt'))).toEqual({ positions: model.positions, sum: model.sum, duplicates: [] });
      const tags = (await env.tags()).map((r) => r.tag);
      const firstB = tags.indexOf('B');
      expect(firstB).toBeGreaterThanOrEqual(20);
      expect(tags.slice(firstB).every((t) => t === 'B')).toBe(true); // nothing of A's after B took over
    } finally {
      for (const c of children) {
        c.proc.kill('SIGCONT');
        await c.kill();
      }
    }
  }, 180_000);
});
