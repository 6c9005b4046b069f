/**
 * The Redis backends on a real Redis Cluster: three masters and three replicas, started by this
 * file (test/support/redis-cluster.ts) on free loopback ports and killed afterwards. Every class
 * gets an ioredis `Cluster` client. Covered: the EventLog contract and the erasure property on
 * RedisEventLog, RedisAgent (versions, history, TTL, subscribe across clients), the Store over a
 * Redis log with Redis views (CRUD, list, query, versions, audit, purge, rebuildViews), and a run
 * during which replicas are promoted with `CLUSTER FAILOVER`: nothing acknowledged is lost and
 * the log subscription, the agent subscription and the projection runner go on.
 *
 * Skips (loudly; fails under CI=true) only when this machine cannot start a cluster.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { Cluster as ClusterClient, Redis, type Cluster, type ClusterOptions } from 'ioredis';
import fc from 'fast-check';
import { BackendUnavailableError, ConcurrencyError, Store } from '../src/index.js';
import type { RecordedEvent } from '../src/index.js';
import { FAIL_FAST_CLUSTER_OPTIONS, RedisAgent, RedisEventLog, RedisViewStorage } from '../src/redis.js';
import { eventLogContract } from '../src/testing/event-log-contract.js';
import { IN_CI, REDIS_URL, requireService, uniqueName } from './support/services.js';
import { startRedisCluster, until, type RedisCluster } from './support/redis-cluster.js';
import { freePort } from './support/throwaway-servers.js';
import { eraseOps, eraseProperty, expectSameReads, runEraseOps } from './support/redis-erase-property.js';
import { deleteByPrefix, scanKeys } from './fixtures/redis-keys.js';

const started = await startRedisCluster();
const cluster: RedisCluster | undefined = 'reason' in started ? undefined : started;
if ('reason' in started) {
  if (IN_CI) throw new Error(`${started.reason} (CI=true: the Redis Cluster tests must run)`);
  console.warn(`\n\n!!! ${started.reason}: SKIPPING the Redis Cluster tests.\n\n`);
}

/** the shared single-node Redis, for the cluster-vs-single-node property (unique prefixes, deleted after) */
const singleNode = cluster !== undefined && (await requireService('Redis', REDIS_URL));

const clients: Cluster[] = [];
/** A Cluster client with ioredis's defaults (what a user gets from `new Cluster(nodes)`). */
function client(options?: ClusterOptions): Cluster {
  const c = cluster!.client(options);
  clients.push(c);
  return c;
}

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
}, 120_000);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

if (cluster) {
  eventLogContract(
    'RedisEventLog on a Redis Cluster',
    () => {
      const prefix = uniqueName('dgent_cluster_log');
      const redis = client();
      return { open: () => new RedisEventLog({ redis, prefix, pageSize: 4 }), cleanup: async () => undefined };
    },
    { reopen: true, requires: ['appendMany'], runs: 25 },
  );
}

describe.skipIf(!cluster)('Redis backends on a Redis Cluster (3 masters, 3 replicas)', () => {
  it('the logs of different prefixes land on different masters, and each log keeps every key in its one slot', async () => {
    const redis = client();
    const masters = new Set<number>();
    for (let i = 0; masters.size < 3 && i < 200; i++) {
      const prefix = `dgent_spread_${i}`;
      const log = new RedisEventLog({ redis, prefix });
      await log.appendMany([
        { stream: `s-${i}`, events: [{ type: 'T', data: i }] },
        { stream: `other-${i}`, events: [{ type: 'T', data: i }] },
      ]);
      expect((await collect(log.readAll())).length).toBe(2);
      masters.add(await cluster!.masterOf(`{${prefix}}`));
      await log.close();
    }
    expect(masters.size).toBe(3);
  });

  it('RedisEventLog erasure: random appends, erasures and retries read the same as on MemoryEventLog', async () => {
    const redis = client();
    await eraseProperty(async () => {
      const log = new RedisEventLog({ redis, prefix: uniqueName('dgent_cluster_erase'), pageSize: 3 });
      return { log, cleanup: () => log.close() };
    }, 20);
  }, 300_000);

  it.skipIf(!singleNode)('the same random appends, appendMany, erasures and retries on the cluster and on a single Redis node give the same results and the same reads', async () => {
    const redis = client();
    const single = new Redis(REDIS_URL);
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(eraseOps, async (ops) => {
          const prefix = uniqueName('dgent_cluster_vs_single');
          const one = new RedisEventLog({ url: REDIS_URL, prefix, pageSize: 3 });
          const many = new RedisEventLog({ redis, prefix, pageSize: 3 });
          try {
            const [a, b] = await runEraseOps(ops, [one, many], `c${run++}`);
            expect(b).toEqual(a);
            await expectSameReads(one, many);
          } finally {
            await one.close();
            await many.close();
            await deleteByPrefix(single, `{${prefix}}`);
          }
        }),
        { numRuns: 20 },
      );
    } finally {
      await single.quit();
    }
  }, 300_000);

  it('RedisAgent: save, update with expected versions, history, loadAt, TTL, and subscribe hears saves made through another Cluster client', async () => {
    // (maxHistory above the saves: a listener skips a save trimmed from the history before it could read it)
    const a = new RedisAgent<{ n: number }>({ redis: client(), key: uniqueName('agent'), maxHistory: 100, initial: { n: 0 } });
    const b = new RedisAgent<{ n: number }>({ redis: client(), key: a.redisKey.slice(a.redisKey.indexOf('{') + 1, -1) });
    const heard: number[] = [];
    const off = b.subscribe((s) => heard.push(s.n));
    await b.subscribed();
    for (let i = 1; i <= 8; i++) await a.update((s) => void s.n++);
    await expect(a.save({ n: 99 }, { expectedVersion: 7 })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await b.load()).toEqual({ n: 8 });
    expect(await b.version()).toBe(8);
    expect((await a.history(5)).map((h) => h.n)).toEqual([8, 7, 6, 5, 4]);
    expect(await a.loadAt({ version: 6 })).toEqual({ n: 6 });
    await until(async () => heard.at(-1) === 8, 'the subscriber to hear version 8', 30_000);
    expect(heard).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    off();
    const ttl = new RedisAgent<number>({ redis: client(), key: uniqueName('ttl'), ttlMs: 60_000 });
    await ttl.save(1);
    const pttl = await clients.at(-1)!.pttl(ttl.redisKey);
    expect(pttl).toBeGreaterThan(0);
    for (const x of [a, b, ttl]) await x.close();
  });

  it('the Store over a RedisEventLog with RedisViewStorage: set, get, list, query, versions, audit, purge and rebuildViews', async () => {
    const redis = client();
    const log = new RedisEventLog({ redis, prefix: uniqueName('dgent_cluster_store') });
    const views = new RedisViewStorage({ redis, prefix: uniqueName('dgent_cluster_views') });
    const store = new Store({ log, views, sweepIntervalMs: 0 });
    try {
      for (let i = 0; i < 20; i++) await store.set(`k${String(i).padStart(2, '0')}`, { i, even: i % 2 === 0 }, { namespace: i < 10 ? 'a' : 'b' });
      await store.set('pii', { email: 'secret@example.com' }, { actor: 'u1' });
      await store.update<{ email: string }>('pii', (d) => void (d!.email = 'secret2@example.com'));
      expect(await store.get('k03', { namespace: 'a' })).toEqual({ i: 3, even: false });
      expect((await store.list({ namespace: 'b', limit: 3 })).items.map((e) => e.key)).toEqual(['k10', 'k11', 'k12']);
      expect(await store.count([{ path: 'even', op: 'eq', value: true }], { namespace: 'a' })).toBe(5);
      expect((await store.versions('pii')).map((v) => v.version)).toEqual([2, 1]);
      await store.purge('pii', { actor: 'dpo' });
      expect(await store.get('pii')).toBeUndefined();
      expect((await store.audit({ key: 'pii' })).map((a) => a.operation)).toEqual(['purge']);
      const raw = JSON.stringify(await collect(log.readAll()));
      expect(raw).not.toContain('secret');
      const viewKeys = async () => {
        const out: string[] = [];
        for (const node of redis.nodes('master')) out.push(...(await scanKeys(node, views.prefix)));
        return [...new Set(out)].sort();
      };
      const generations = async () => [...new Set((await viewKeys()).map((k) => /:p:\{(\w+)\}:g(\d+):/.exec(k)).filter((m) => m !== null).map((m) => `${m[1]}:g${m[2]}`))].sort();
      const first = await generations();
      expect(first.length).toBeGreaterThanOrEqual(3);
      await store.rebuildViews();
      // the next rebuild drops the generation the first one retired (and keeps the one it retires
      // itself): on a cluster too, where the keys are found by SCAN on their master
      await store.rebuildViews();
      const third = await generations();
      expect(third.length).toBe(2 * first.length);
      expect(third.filter((g) => first.includes(g))).toEqual([]);
      expect(JSON.stringify(await Promise.all((await viewKeys()).map((k) => redis.type(k))))).not.toContain('none');
      expect(await store.get('k13', { namespace: 'b' })).toEqual({ i: 13, even: false });
      expect(await store.get('pii')).toBeUndefined();
    } finally {
      await store.close();
      await views.close();
      await log.close();
    }
  }, 120_000);
});

describe.skipIf(!cluster)('CLUSTER FAILOVER in the middle of a run', () => {
  // ioredis's defaults, and dgent's fail-fast settings on every node connection (nothing re-sent blindly)
  it.each([
    ['ioredis defaults', undefined],
    ['FAIL_FAST_CLUSTER_OPTIONS', FAIL_FAST_CLUSTER_OPTIONS],
  ] as const)('every master is replaced by its replica while a log, an agent and a Store write (Cluster client: %s): nothing acknowledged is lost, nothing is duplicated, and the log subscription, the agent subscription and the Store views go on', async (_, options) => {
    const writer = client(options);
    const reader = client(options);
    const logPrefix = uniqueName('dgent_fo_log');
    const log = new RedisEventLog({ redis: writer, prefix: logPrefix, subscriptionRetryMs: 120_000 });
    const readerLog = new RedisEventLog({ redis: reader, prefix: logPrefix, subscriptionRetryMs: 120_000 });
    const agentKey = uniqueName('dgent_fo_agent');
    const agent = new RedisAgent<{ n: number }>({ redis: writer, key: agentKey, maxHistory: 100_000 });
    const listener = new RedisAgent<{ n: number }>({ redis: reader, key: agentKey, maxHistory: 100_000 });
    const storeLog = new RedisEventLog({ redis: writer, prefix: uniqueName('dgent_fo_store'), subscriptionRetryMs: 120_000 });
    const views = new RedisViewStorage({ redis: writer, prefix: uniqueName('dgent_fo_views') });
    const store = new Store({ log: storeLog, views, sweepIntervalMs: 0 });

    const delivered: RecordedEvent[] = [];
    const sub = readerLog.subscribe({ fromPosition: 0 }, (e) => void delivered.push(e));
    const heard: number[] = [];
    const off = listener.subscribe((s) => heard.push(s.n));
    await listener.subscribed();

    const errors = { log: 0, agent: 0, store: 0 };
    const acked = { log: [] as number[], agent: 0, store: new Map<string, number>(), storeSets: 0 };
    let stop = false;
    const failures: unknown[] = [];
    const keep = async (what: keyof typeof errors, fn: () => Promise<void>): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          return await fn();
        } catch (e) {
          // an outage (a failover answered with CLUSTERDOWN / TRYAGAIN, a dropped connection) is retried;
          // anything else fails the test
          if (!(e instanceof Error) || e.name !== 'BackendUnavailableError' || i > 200) throw e;
          errors[what]++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const logLoop = async () => {
      for (let i = 0; !stop; i++) {
        // a retry resends the same event id: the log answers an exact retry with the original result
        const ev = [{ id: `${logPrefix}-${i}`, type: 'T', data: { i } }];
        await keep('log', async () => void (await log.append(`s${i % 5}`, ev)));
        acked.log.push(i);
      }
    };
    const agentLoop = async () => {
      while (!stop) {
        const v = acked.agent;
        await keep('agent', async () => {
          try {
            await agent.save({ n: v + 1 }, { expectedVersion: v });
          } catch (e) {
            // the reply of a save that did happen was lost: the retry sees the conflict with our own write
            if (e instanceof ConcurrencyError && (await agent.version()) === v + 1 && (await agent.load())?.n === v + 1) return;
            throw e;
          }
        });
        acked.agent = v + 1;
      }
    };
    const storeLoop = async () => {
      for (let i = 0; !stop; i++) {
        const key = `k${i % 7}`;
        await keep('store', () => store.set(key, { i }).then(() => undefined));
        acked.store.set(key, i);
        acked.storeSets++;
      }
    };
    const loops = [logLoop(), agentLoop(), storeLoop()].map((p) => p.catch((e) => void failures.push(e)));
    const progress = () => acked.log.length + acked.agent + acked.store.size;
    const failovers: { from: number; to: number }[] = [];
    try {
      // the masters of the three slots in play (log, agent, views) and then any remaining master
      // (each shard once: a key whose master was promoted here already is skipped)
      const keys = [`{${logPrefix}}`, agent.redisKey, `${views.prefix}:p:{kv}:ctl`, ...Array.from({ length: 50 }, (_, j) => `{shard${j}}`)];
      for (const key of keys) {
        if (failovers.length === 3) break;
        const master = await cluster!.masterOf(key);
        if (failovers.some((f) => f.to === master)) continue;
        const before = { log: acked.log.length, agent: acked.agent };
        await until(async () => failures.length > 0 || (acked.log.length >= before.log + 30 && acked.agent >= before.agent + 30), 'the writers to make progress', 120_000);
        expect(failures).toEqual([]);
        failovers.push(await cluster!.failover(key));
      }
      // progress on the new masters before stopping
      const after = { log: acked.log.length, agent: acked.agent };
      await until(async () => failures.length > 0 || (acked.log.length >= after.log + 30 && acked.agent >= after.agent + 30), 'the writers to make progress after the failovers', 120_000);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);
    expect(progress()).toBeGreaterThan(0);
    console.log(`failovers ${JSON.stringify(failovers)}; acknowledged: ${acked.log.length} appends, ${acked.agent} agent saves, ${acked.storeSets} store sets; retried after an outage error: ${JSON.stringify(errors)}`);

    // the log: every acknowledged append exactly once, positions gapless, each stream in order
    const all = await collect(readerLog.readAll());
    expect(all.map((e) => e.id)).toEqual(acked.log.map((i) => `${logPrefix}-${i}`));
    expect(all.map((e) => e.position)).toEqual(all.map((_, j) => j + 1));
    for (let s = 0; s < 5; s++) {
      const revs = all.filter((e) => e.stream === `s${s}`).map((e) => e.revision);
      expect(revs).toEqual(revs.map((_, j) => j + 1));
    }
    // the subscription delivered them all, once, in order (it went on through the failovers)
    await until(async () => delivered.length >= all.length, `the subscription to deliver ${all.length} events`, 120_000);
    expect(delivered.map((e) => e.position)).toEqual(all.map((e) => e.position));
    // ... and is still live on the new master
    await log.append('after', [{ type: 'T', data: 'after' }]);
    await until(async () => delivered.length === all.length + 1, 'the subscription to deliver an event appended after the failovers', 120_000);

    // the agent: every acknowledged version is in its history with its state
    expect(await listener.version()).toBe(acked.agent);
    const history = await listener.history(acked.agent);
    expect(history.map((h) => h.n)).toEqual(history.map((_, j) => acked.agent - j));
    expect(history.length).toBe(acked.agent);
    // the subscriber heard the last save, never went backwards, and still hears new ones
    await until(async () => heard.at(-1) === acked.agent, 'the agent subscriber to hear the last save', 120_000);
    expect(heard).toEqual([...heard].sort((a, b) => a - b));
    await agent.save({ n: acked.agent + 1 });
    await until(async () => heard.at(-1) === acked.agent + 1, 'the agent subscriber to hear a save made after the failovers', 120_000);

    // the Store: its async views caught up through the failovers
    for (const [key, i] of acked.store) expect(await store.get(key)).toEqual({ i });
    await store.set('after', { ok: true });
    expect(await store.get('after')).toEqual({ ok: true });
    expect((await store.status()).views.every((v) => v.state === 'running')).toBe(true);

    off();
    await sub.close();
    await store.close();
    for (const x of [views, storeLog, log, readerLog, agent, listener]) await x.close();
  }, 600_000);
});

// Last in this file: it leaves the cluster with one node dead.
describe.skipIf(!cluster)('a master killed (SIGKILL) in the middle of a run: automatic failover', () => {
  it('the replica takes over; writers get BackendUnavailableError meanwhile and go on after it; the log stays gapless without duplicates, and the log and agent subscriptions hear writes made afterwards', async () => {
    const writer = client(FAIL_FAST_CLUSTER_OPTIONS);
    const reader = client(FAIL_FAST_CLUSTER_OPTIONS);
    const logPrefix = uniqueName('dgent_kill_log');
    const master = await cluster!.masterOf(`{${logPrefix}}`);
    let agentKey = uniqueName('dgent_kill_agent');
    const agentOf = (k: string) => `dgent:agent:{${k}}`;
    while ((await cluster!.masterOf(agentOf(agentKey))) !== master) agentKey = uniqueName('dgent_kill_agent');
    const log = new RedisEventLog({ redis: writer, prefix: logPrefix, subscriptionRetryMs: 300_000 });
    const readerLog = new RedisEventLog({ redis: reader, prefix: logPrefix, subscriptionRetryMs: 300_000 });
    const agent = new RedisAgent<{ n: number }>({ redis: writer, key: agentKey, maxHistory: 100_000 });
    const listener = new RedisAgent<{ n: number }>({ redis: reader, key: agentKey, maxHistory: 100_000, onNotificationError: () => undefined });
    expect(agent.redisKey).toBe(agentOf(agentKey));
    const delivered: RecordedEvent[] = [];
    const sub = readerLog.subscribe({ fromPosition: 0 }, (e) => void delivered.push(e));
    const heard: number[] = [];
    const off = listener.subscribe((s) => heard.push(s.n));
    await listener.subscribed();

    let stop = false;
    const errors = { log: 0, agent: 0 };
    const acked = { log: [] as number[], agent: 0 };
    const keep = async (what: keyof typeof errors, fn: () => Promise<void>): Promise<void> => {
      const deadline = Date.now() + 300_000;
      for (;;) {
        try {
          return await fn();
        } catch (e) {
          if (!(e instanceof Error) || e.name !== 'BackendUnavailableError' || Date.now() > deadline) throw e;
          errors[what]++;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const failures: unknown[] = [];
    let lostSaves = 0;
    const loops = [
      (async () => {
        for (let i = 0; !stop; i++) {
          const ev = [{ id: `${logPrefix}-${i}`, type: 'T', data: { i } }];
          await keep('log', async () => void (await log.append(`s${i % 3}`, ev)));
          acked.log.push(i);
        }
      })(),
      (async () => {
        while (!stop) {
          await keep('agent', async () => {
            const cur = (await agent.version()) ?? 0;
            if (cur < acked.agent) {
              lostSaves += acked.agent - cur; // acknowledged by the dead master, never replicated
              acked.agent = cur;
            }
            if (cur === acked.agent) await agent.save({ n: cur + 1 }, { expectedVersion: cur });
            // cur > acked.agent: the save before did happen, its reply was lost
          });
          acked.agent++;
        }
      })(),
    ].map((p) => p.catch((e) => void failures.push(e)));
    try {
      await until(async () => failures.length > 0 || (acked.log.length >= 30 && acked.agent >= 30), 'the writers to make progress', 120_000);
      const victim = cluster!.nodes.find((n) => n.port === master)!;
      victim.process.kill('SIGKILL');
      await until(async () => (await cluster!.masterOf(`{${logPrefix}}`).catch(() => master)) !== master, 'a replica to take over the slot', 300_000);
      const after = { log: acked.log.length, agent: acked.agent };
      await until(async () => failures.length > 0 || (acked.log.length >= after.log + 30 && acked.agent >= after.agent + 30), 'the writers to go on after the failover', 300_000);
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    expect(failures).toEqual([]);

    const all = await collect(readerLog.readAll());
    const ids = new Set(all.map((e) => e.id));
    expect(ids.size).toBe(all.length);
    expect(all.map((e) => e.position)).toEqual(all.map((_, j) => j + 1));
    for (let s = 0; s < 3; s++) {
      const revs = all.filter((e) => e.stream === `s${s}`).map((e) => e.revision);
      expect(revs).toEqual(revs.map((_, j) => j + 1));
    }
    const lost = acked.log.filter((i) => !ids.has(`${logPrefix}-${i}`)).length;
    console.log(`SIGKILL of master ${master}: acknowledged ${acked.log.length} appends (${lost} lost: written on the master, not yet on its replica), ${acked.agent} saves (${lostSaves} lost); BackendUnavailableError retried: ${JSON.stringify(errors)}`);

    // both subscriptions hear what is written after the failover
    const mark = { type: 'T', data: 'after-kill' };
    await log.append('after', [mark]);
    await until(async () => delivered.some((e) => e.stream === 'after'), 'the log subscription to deliver an event appended after the failover', 300_000);
    const v = (await agent.version()) ?? 0;
    await agent.save({ n: 1_000_000 }, { expectedVersion: v });
    await until(async () => heard.includes(1_000_000), 'the agent subscriber to hear a save made after the failover', 300_000);

    off();
    await sub.close();
    for (const x of [log, readerLog, agent, listener]) await x.close();
  }, 900_000);
});

describe.skipIf(!cluster)('a Redis Cluster client none of whose startup nodes answers (FAIL_FAST_CLUSTER_OPTIONS)', () => {
  it('calls fail with BackendUnavailableError instead of waiting for ever, and work again by themselves once a node answers', async () => {
    const port = await freePort();
    const redis = new ClusterClient([{ host: '127.0.0.1', port }], FAIL_FAST_CLUSTER_OPTIONS);
    redis.on('error', () => undefined); // (the failed attempts to reach it: the calls report them)
    clients.push(redis);
    const agent = new RedisAgent<{ n: number }>({ redis, key: uniqueName('unreachable') });
    const log = new RedisEventLog({ redis, prefix: uniqueName('unreachable') });
    // (ioredis's defaults queue these until a node answers: they never settled)
    await expect(agent.save({ n: 1 })).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(agent.load()).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(log.append('s', [{ type: 'x', data: 1 }])).rejects.toBeInstanceOf(BackendUnavailableError);
    // now a node answers on that port (a proxy to a live master, which names the other nodes; an
    // earlier test of this file may have killed some)
    const live = await cluster!.masterOf('x');
    const sockets = new Set<net.Socket>();
    const proxy = net.createServer((socket) => {
      const upstream = net.connect(live, '127.0.0.1');
      for (const s of [socket, upstream]) (sockets.add(s), s.on('error', () => undefined));
      socket.pipe(upstream).pipe(socket);
      socket.on('close', () => upstream.destroy());
      upstream.on('close', () => socket.destroy());
    });
    await new Promise<void>((resolve) => proxy.listen(port, '127.0.0.1', resolve));
    try {
      await until(() => agent.save({ n: 2 }).then(() => true, () => false), 'a save once the cluster answers', 30_000);
      expect(await agent.load()).toEqual({ n: 2 });
      expect(await log.append('s', [{ type: 'x', data: 2 }])).toMatchObject({ revision: 1 });
      await Promise.all([agent.close(), log.close()]);
    } finally {
      redis.disconnect();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  }, 60_000);
});
