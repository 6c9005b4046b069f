/**
 * Failover with real servers stopped and restarted in the middle of a run: a Redis and a
 * PostgreSQL of the test's own (test/support/throwaway-servers.ts; the shared services are never
 * touched), behind fallback() with writes: 'primary-then-queue' and a SqliteEventLog queue.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackendUnavailableError, InvalidKeyError } from '../src/core/errors.js';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { RedisAgent } from '../src/agents/redis-agent.js';
import { fallback } from '../src/compose/fallback-agent.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { Store } from '../src/store/store.js';
import { SqliteQueue } from '../src/failover/sqlite-queue.js';
import { hasRedisServer, postgresBin, startPostgres, startRedis, type ThrowawayServer } from './support/throwaway-servers.js';

const CHILD = new URL('./support/failover-child.ts', import.meta.url).pathname;
const canRun = hasRedisServer() && postgresBin() !== undefined;

let redis: ThrowawayServer;
let pg: ThrowawayServer;
let dir: string;
let runs = 0;
/** saves acknowledged while one server was down, over all runs */
let queuedSeen = 0;

beforeAll(async () => {
  if (!canRun) return;
  dir = mkdtempSync(join(tmpdir(), 'dgent-failover-int-'));
  [redis, pg] = await Promise.all([startRedis(), startPostgres()]);
});

afterAll(async () => {
  await Promise.all([redis?.close(), pg?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function states<S>(a: { history(limit?: number): Promise<readonly S[]> }): Promise<S[]> {
  return [...(await a.history(10_000))].reverse();
}

/** Retry `fn` while it throws BackendUnavailableError (a client reconnecting to a restarted server), by attempts. */
async function whenBack<T>(fn: () => Promise<T>, attempts = 400): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof BackendUnavailableError) || i >= attempts) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

type Outage = { at: number; server: 'redis' | 'pg'; how: 'clean' | 'kill'; for: number };

describe.skipIf(!canRun)('failover over a real PostgreSQL and a real Redis, stopped and restarted mid-run', () => {
  it("'primary-then-queue': random outages of either server (stop or SIGKILL) at random points lose no acknowledged save; both end with the acknowledged states in order, once each", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ at: fc.integer({ min: 0, max: 25 }), server: fc.constantFrom('redis' as const, 'pg' as const), how: fc.constantFrom('clean' as const, 'kill' as const), for: fc.integer({ min: 1, max: 8 }) }), { minLength: 1, maxLength: 3 }),
        async (outages: Outage[]) => {
          const run = ++runs;
          const queue = new SqliteEventLog({ path: join(dir, `queue-${run}.db`) });
          const primary = new SQLAgent<number>({ connectionString: pg.url, id: `run-${run}`, table: 'failover_states' });
          const secondary = new RedisAgent<number>({ url: redis.url, key: `failover:run-${run}`, maxHistory: 10_000 });
          const agent = fallback([primary, secondary], { writes: 'primary-then-queue', queue, retryMs: 20 });
          const down = new Map<'redis' | 'pg', number>(); // server -> save index at which it comes back
          const server = (s: 'redis' | 'pg'): ThrowawayServer => (s === 'redis' ? redis : pg);
          const acked: number[] = [];
          for (let i = 0; i < 30; i++) {
            for (const [s, until] of down) {
              if (until <= i) {
                await server(s).start();
                down.delete(s);
              }
            }
            for (const o of outages) {
              if (o.at === i && !down.has(o.server)) {
                await server(o.server).stop(o.how);
                down.set(o.server, i + o.for);
              }
            }
            try {
              await agent.save(i + 1);
              acked.push(i + 1);
              if (down.size === 1) {
                // the server that is down has this save queued, and status() says so
                const st = await agent.status();
                const b = st.backends[down.has('pg') ? 0 : 1]!;
                expect([b.available, b.inSync, b.queued > 0]).toEqual([false, false, true]);
                queuedSeen++;
              }
            } catch (e) {
              if (!(e instanceof BackendUnavailableError)) throw e;
              expect(down.size).toBe(2); // refused only while both were down
            }
          }
          for (const s of down.keys()) await server(s).start();
          // the clients reconnect; then the queue drains to nothing
          await whenBack(async () => {
            if ((await agent.drain()) > 0) throw new BackendUnavailableError('test', 'still draining');
          });
          const st = await agent.status();
          expect(st.queueDepth).toBe(0);
          expect(st.backends.every((b) => b.available && b.inSync)).toBe(true);
          const p = await whenBack(() => states(primary));
          const r = await whenBack(() => states(secondary));
          expect(r).toEqual(p);
          expect(new Set(p).size).toBe(p.length);
          expect([...p].sort((x, y) => x - y)).toEqual(p);
          for (const v of acked) expect(p).toContain(v);
          await agent.close();
          await queue.close();
        },
      ),
      { numRuns: 4 },
    );
    expect(queuedSeen).toBeGreaterThan(0);
  }, 600_000);
});

describe.skipIf(!canRun)('the failover queue across a SIGKILL of the writing process', () => {
  it('a process killed with SIGKILL while the secondary is down leaves its queue on disk; a new process drains it after the restart: every acknowledged save on both, in order, once', async () => {
    const queuePath = join(dir, 'kill-queue.db');
    const sqlitePath = join(dir, 'kill-primary.db');
    const key = 'failover-kill';
    await redis.stop('clean');
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify({ queuePath, sqlitePath, redisUrl: redis.url, key })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const acked: number[] = [];
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = /^ack (\d+)$/.exec(line);
          if (m) acked.push(Number(m[1]));
          if (acked.length === 40) {
            child.kill('SIGKILL');
            resolve();
          }
        }
      });
      child.once('exit', () => (acked.length < 40 ? reject(new Error(`child exited early: ${stderr}`)) : resolve()));
    });
    await exited;
    await redis.start();
    const queue = new SqliteEventLog({ path: queuePath });
    const primary = new SQLAgent<number>({ path: sqlitePath, id: key });
    const secondary = new RedisAgent<number>({ url: redis.url, key, maxHistory: 100_000 });
    const agent = fallback([primary, secondary], { writes: 'primary-then-queue', queue });
    expect((await agent.status()).backends[1]!.queued).toBeGreaterThanOrEqual(40);
    await whenBack(async () => {
      if ((await agent.drain()) > 0) throw new BackendUnavailableError('test', 'still draining');
    });
    const p = await states(primary);
    const r = await states(secondary);
    expect(r).toEqual(p);
    // every acknowledged save, in order, once; at most the one in flight at the kill beyond them
    expect(p.slice(0, acked.length)).toEqual(acked);
    expect(p.length - acked.length).toBeLessThanOrEqual(1);
    await agent.close();
    await queue.close();
  }, 300_000);
});

describe.skipIf(!canRun)('fallback over Stores: a PostgreSQL Store stopped and restarted mid-run, a SQLite Store behind it', () => {
  it("'primary-then-queue': writes and reads go on while PostgreSQL is down; after the restart the PostgreSQL Store holds every acknowledged write, in order, with its actor, metadata and expiry", async () => {
    const queue = new SqliteQueue({ path: join(dir, 'store-queue.db') });
    const pgLog = new PostgresEventLog({ connectionString: pg.url, schema: 'failover_store' });
    const sqliteLog = new SqliteEventLog({ path: join(dir, 'store-local.db') });
    const primary = new Store({ log: pgLog, sweepIntervalMs: 0 });
    const local = new Store({ log: sqliteLog, sweepIntervalMs: 0 });
    const store = fallback(
      [
        { backend: local, priority: 2, name: 'local' },
        { backend: primary, priority: 1, name: 'pg' },
      ],
      { writes: 'primary-then-queue', queue, retryMs: 20 },
    );
    await store.set('a', 1, { actor: 'ada' });
    await pg.stop('kill');
    const expiresAt = Date.now() + 3_600_000;
    await store.set('a', 2, { actor: 'bob', metadata: { tag: 'x' } });
    await store.set('b', { n: 1 }, { actor: 'bob', expiresAt, namespace: 'ns1' });
    await store.setMany([['c', 3], { key: 'd', value: 4 }], { actor: 'cy' });
    expect(await store.delete('c', { actor: 'cy' })).toBe(true);
    await store.setMetadata('a', { tag: 'y' }, { actor: 'dee', merge: true });
    // reads fall through to the SQLite Store
    expect(await store.get('a')).toBe(2);
    expect(await store.get('b', { namespace: 'ns1' })).toEqual({ n: 1 });
    const down = await store.status();
    expect(down.backends.map((b) => [b.name, b.available, b.queued])).toEqual([
      ['pg', false, 5],
      ['local', true, 0],
    ]);
    await pg.start();
    await whenBack(async () => {
      if ((await store.drain()) > 0) throw new BackendUnavailableError('test', 'still draining');
    });
    for (const s of [primary, local]) {
      const va = await s.versions('a');
      expect(va.map((v) => [v.version, v.value, v.actor, v.metadata])).toEqual([
        [3, 2, 'dee', { tag: 'y' }],
        [2, 2, 'bob', { tag: 'x' }],
        [1, 1, 'ada', null],
      ]);
      expect(await s.get('b', { namespace: 'ns1', includeMetadata: true })).toMatchObject({ value: { n: 1 }, expiresAt });
      expect((await s.versions('c')).map((v) => [v.deleted, v.actor])).toEqual([
        [true, 'cy'],
        [false, 'cy'],
      ]);
      expect(await s.get('d')).toBe(4);
    }
    expect((await store.status()).healthy).toBe(true);
    await store.close();
    await Promise.all([pgLog.close(), sqliteLog.close(), queue.close()]);
  }, 300_000);
});

describe.skipIf(!canRun)('fallback over Stores: update, incr and transaction while PostgreSQL is killed and restarted', () => {
  it("'primary-then-queue': they run on the SQLite Store while PostgreSQL is down; after the restart PostgreSQL holds the same values, its replayed entries carrying queuedAt", async () => {
    const queue = new SqliteQueue({ path: join(dir, 'rmw-queue.db') });
    const pgLog = new PostgresEventLog({ connectionString: pg.url, schema: 'failover_rmw' });
    const sqliteLog = new SqliteEventLog({ path: join(dir, 'rmw-local.db') });
    const primary = new Store({ log: pgLog, sweepIntervalMs: 0 });
    const local = new Store({ log: sqliteLog, sweepIntervalMs: 0 });
    await Promise.all([primary.ready(), local.ready()]);
    const store = fallback([primary, local], { writes: 'primary-then-queue', queue, retryMs: 20 });
    await store.set('account', { balance: 100, log: [] as string[] });
    expect(await store.incr('visits')).toBe(1);
    await pg.stop('kill');
    const killedAt = Date.now();
    await store.update<{ balance: number; log: string[] }>('account', (d) => {
      d!.balance -= 30;
      d!.log.push('withdraw 30');
    });
    expect(await store.incr('visits', 2)).toBe(3);
    await store.transaction(async (tx) => {
      const a = (await tx.get<{ balance: number; log: string[] }>('account'))!;
      await tx.set('account', { ...a, balance: a.balance + 5 });
      await tx.set('bonus', 5);
    });
    expect((await store.status()).backends.map((b) => b.queued)).toEqual([3, 0]);
    await pg.start();
    await whenBack(async () => {
      if ((await store.drain()) > 0) throw new BackendUnavailableError('test', 'still draining');
    });
    for (const s of [primary, local]) {
      expect(await s.get('account')).toEqual({ balance: 75, log: ['withdraw 30'] });
      expect(await s.get('visits')).toBe(3);
      expect(await s.get('bonus')).toBe(5);
    }
    const audit = await store.audit({ key: 'visits' }); // from PostgreSQL, in sync again and first
    expect(audit.map((e) => e.queuedAt !== undefined)).toEqual([false, true]);
    expect(audit[1]!.queuedAt).toBeGreaterThanOrEqual(killedAt);
    await store.close();
    await Promise.all([pgLog.close(), sqliteLog.close(), queue.close()]);
  }, 300_000);
});

describe.skipIf(!canRun)("fallback over Stores: 'all' and 'first-available' while PostgreSQL is down", () => {
  it("'all' refuses writes while PostgreSQL is down but reads fall through; 'first-available' writes to SQLite only; other errors never fail over", async () => {
    const pgLog = new PostgresEventLog({ connectionString: pg.url, schema: 'failover_policies' });
    const sqliteLog = new SqliteEventLog({ path: join(dir, 'policies-local.db') });
    const primary = new Store({ log: pgLog, sweepIntervalMs: 0 });
    const local = new Store({ log: sqliteLog, sweepIntervalMs: 0 });
    const all = fallback([primary, local]);
    const first = fallback([primary, local], { writes: 'first-available' });
    expect(all.writes).toBe('all');
    await all.set('k', 1);
    expect([await primary.get('k'), await local.get('k')]).toEqual([1, 1]);
    // a bad key is the answer, not a reason to fail over
    await expect(first.set('', 1)).rejects.toBeInstanceOf(InvalidKeyError);
    await pg.stop('clean');
    await expect(all.set('k', 2)).rejects.toBeInstanceOf(BackendUnavailableError);
    // from SQLite, which took the rejected write (as documented: 'all' still writes the backends that are up)
    expect(await all.get('k')).toBe(2);
    expect((await first.set('k', 3)).version).toBe(3);
    expect(await first.get('k')).toBe(3);
    const st = await first.status();
    expect(st.backends.map((b) => [b.available, b.queued])).toEqual([
      [false, 0],
      [true, 0],
    ]);
    await pg.start();
    // 'first-available' never copies the write back: PostgreSQL still has 1
    expect(await whenBack(() => primary.get('k'))).toBe(1);
    await all.close(); // closes both Stores (first shares them)
    await Promise.all([pgLog.close(), sqliteLog.close()]);
  }, 300_000);
});
