import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { BackendUnavailableError, CorruptionError, InvalidKeyError, SerializationError, StateNotFoundError, ValidationError, encode } from '../src/index.js';
import { RedisAgent } from '../src/redis.js';
import { dataAgentContract } from '../src/testing/index.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { deleteByPrefix, runWorker, scanKeys } from './fixtures/redis-keys.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { LuaScript, watchStalls } from '../src/agents/redis/client.js';
import { sleep } from '../src/core/mutex.js';

const up = await requireService('Redis', REDIS_URL);

/** `p`, or a failure naming `what` after `ms`: a bound against hangs, far above what `p` takes on a loaded machine (never a measurement). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

if (up) {
  dataAgentContract(
    'RedisAgent',
    async () => {
      const prefix = `${uniqueName('dgent_test')}:`;
      const key = uniqueName('agent');
      // each place reaches the server through its own proxy, so makeUnavailable() cuts only its agents
      const proxy = await startTcpProxy(REDIS_URL);
      return {
        open: () => new RedisAgent({ url: proxy.url(REDIS_URL), prefix, key }),
        // the newest state's bytes (list index 1, after its header) replaced by a torn write
        corrupt: async () => {
          const r = new Redis(REDIS_URL);
          await r.lset(`${prefix}{${key}}`, 1, '{"torn');
          await r.quit();
        },
        makeUnavailable: () => proxy.cut(),
        restore: () => proxy.restore(),
        cleanup: async () => {
          await proxy.close();
          const r = new Redis(REDIS_URL);
          await deleteByPrefix(r, prefix);
          await r.quit();
        },
      };
    },
    { reopen: true, requires: ['update', 'versioned', 'subscribe', 'close'] },
  );
}

describe.skipIf(!up)('RedisAgent', () => {
  let redis: Redis;
  const prefix = `${uniqueName('dgent_test')}:`;
  const agents: RedisAgent<any>[] = [];
  const agent = <S>(key: string, extra: Partial<ConstructorParameters<typeof RedisAgent<S>>[0]> = {}): RedisAgent<S> => {
    const a = new RedisAgent<S>({ url: REDIS_URL, prefix, key, ...extra });
    agents.push(a);
    return a;
  };

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const a of agents) await a.close();
    await deleteByPrefix(redis, prefix);
    expect(await deleteByPrefix(redis, prefix)).toBe(0);
    await redis.quit();
  });

  it('constructor with an empty, over-long or NUL key throws InvalidKeyError', () => {
    expect(() => new RedisAgent({ url: REDIS_URL, key: '' })).toThrow(InvalidKeyError);
    expect(() => new RedisAgent({ url: REDIS_URL, key: 'x'.repeat(1025) })).toThrow(InvalidKeyError);
    expect(() => new RedisAgent({ url: REDIS_URL, key: 'a\0b' })).toThrow(InvalidKeyError);
    expect(() => new RedisAgent({ url: REDIS_URL, key: 'k', prefix: 'a{b}' })).toThrow(InvalidKeyError);
    expect(() => new RedisAgent({ url: REDIS_URL, key: 'k', maxHistory: 0 })).toThrow(ValidationError);
    expect(() => new RedisAgent({ url: REDIS_URL, key: 'k', ttlMs: 1.5 })).toThrow(ValidationError);
    for (const commandTimeout of [0, -5, Number.NaN, Infinity]) expect(() => new RedisAgent({ url: REDIS_URL, key: 'k', redisOptions: { commandTimeout } })).toThrow(ValidationError);
  });

  it('keys with braces, globs and colons stay separate agents under the prefix, in one hash-tagged key', async () => {
    const keys = ['a', 'a}', '{a}', 'a}:changes', '*', 'a:b', '../x'];
    for (const [i, k] of keys.entries()) await agent<number>(k).save(i);
    for (const [i, k] of keys.entries()) expect(await agent<number>(k).load()).toBe(i);
    expect(agent('a}b').redisKey).toBe(`${prefix}{a}b}`);
    const stored = await scanKeys(redis, prefix);
    expect(stored.sort()).toEqual(keys.map((k) => `${prefix}{${k}}`).sort());
  });

  it('save with ttlMs sets the expiry and every save refreshes it', async () => {
    const a = agent<{ v: number }>(uniqueName('ttl'), { ttlMs: 60_000 });
    await a.save({ v: 1 });
    const ttl1 = await redis.pttl(a.redisKey);
    expect(ttl1).toBeGreaterThan(50_000);
    expect(ttl1).toBeLessThanOrEqual(60_000);
    await redis.pexpire(a.redisKey, 5_000);
    await a.load(); // refreshTtlOnLoad is off: a read leaves the TTL alone
    expect(await redis.pttl(a.redisKey)).toBeLessThanOrEqual(5_000);
    await a.save({ v: 2 });
    expect(await redis.pttl(a.redisKey)).toBeGreaterThan(50_000);
  });

  it('load with refreshTtlOnLoad extends the TTL (sliding expiry)', async () => {
    const a = agent<{ v: number }>(uniqueName('ttl'), { ttlMs: 60_000, refreshTtlOnLoad: true });
    await a.save({ v: 1 });
    await redis.pexpire(a.redisKey, 5_000);
    expect(await a.load()).toEqual({ v: 1 });
    expect(await redis.pttl(a.redisKey)).toBeGreaterThan(50_000);
  });

  it('an expired agent loads as never saved (StateNotFoundError, version 0)', async () => {
    // the key is made to expire now rather than after a short ttlMs, which a slow load could outlive
    const a = agent<{ v: number }>(uniqueName('ttl'), { ttlMs: 60_000 });
    await a.save({ v: 1 });
    expect(await a.load()).toEqual({ v: 1 });
    await redis.pexpire(a.redisKey, 1);
    await until('expiry', async () => (await redis.exists(a.redisKey)) === 0);
    await expect(a.load()).rejects.toBeInstanceOf(StateNotFoundError);
    expect(await a.version()).toBe(0);
  });

  it('maxHistory bounds history and loadAt but always keeps the current state', async () => {
    const a = agent<number>(uniqueName('hist'), { maxHistory: 3 });
    for (let i = 1; i <= 10; i++) await a.save(i);
    expect(await a.history()).toEqual([10, 9, 8]);
    expect(await redis.llen(a.redisKey)).toBe(6); // a header and a state per save
    expect(await a.version()).toBe(10);
    expect(await a.loadAt({ version: 8 })).toBe(8);
    await expect(a.loadAt({ version: 7 })).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('load returns the same frozen state while the stored entry is unchanged, and the new one after another instance saves', async () => {
    const key = uniqueName('cache');
    const a = agent<{ v: number[] }>(key);
    const b = agent<{ v: number[] }>(key);
    await a.save({ v: [1] });
    const first = await a.load();
    expect(await a.load()).toBe(first);
    await a.save(first); // an unchanged state re-uses its encoding and still makes a new version
    expect(await a.version()).toBe(2);
    expect(await b.loadAt({ version: 2 })).toEqual({ v: [1] });
    await b.save({ v: [2] });
    expect(await a.load()).toEqual({ v: [2] });
    await a.save(-0 as never);
    await a.save(0 as never);
    expect(Object.is(await a.load(), 0)).toBe(true);
    expect(Object.is(await b.loadAt({ version: 4 }), -0)).toBe(true);
  });

  it('load of a state holding bytes gives a fresh copy each time, so mutating it changes nothing stored', async () => {
    const a = agent<{ b: Uint8Array }>(uniqueName('bytes'));
    await a.save({ b: new Uint8Array([1, 2]) });
    (await a.load()).b[0] = 99;
    expect((await a.load()).b).toEqual(new Uint8Array([1, 2]));
  });

  it('a new state is stored exactly as encode() spells it, whichever fields it shares with the states saved before', async () => {
    const key = uniqueName('fields');
    const a = agent<any>(key);
    const stored = async (): Promise<string | null> => redis.lindex(a.redisKey, 1);
    const shared = { turns: Object.freeze([{ role: 'user', text: 'hi' }]), at: new Date(5), tags: new Set(['x']), m: new Map<unknown, unknown>([[1n, undefined]]) };
    const proto = JSON.parse('{"__proto__": {"p": 1}, "q": [1]}') as Record<string, unknown>;
    const nullProto = Object.assign(Object.create(null) as object, { n: { deep: [1, 2] } });
    // each state is saved and compared with encode(); later ones share fields with earlier ones
    const states: unknown[] = [];
    const next = (s: unknown): unknown => (states.push(s), s);
    next({ ...shared, step: 1 });
    next({ ...shared, step: 2, neg: -0, nan: NaN, big: 2n ** 70n, none: undefined, s: 'é\u2028"\\', t: true, z: null });
    next({ step: 3, ...shared }); // same fields, other order
    next({ ...shared, turns: [...shared.turns, { role: 'assistant', text: 'hello' }] });
    next({ ...shared, $dgent: 'a user key spelled like the tag', inner: { $dgent: 1 } });
    next({ ...shared, ...proto });
    next({ ...shared, ...proto, q: [2] });
    next(nullProto);
    next({ n: (nullProto as { n: unknown }).n, extra: [shared.turns] });
    next([shared.turns, shared.at, 1, undefined, 'x']); // an array state shares items by position
    next([shared.turns, shared.at, 2]);
    next(Object.freeze({ only: shared.turns }));
    next({});
    next(-0);
    next({ again: shared.turns, bytes: new Uint8Array([1, 2]) });
    next({ again: shared.turns, bytes: new Uint8Array([3]) });
    for (const [i, s] of states.entries()) {
      await a.save(s);
      expect(await stored(), `state #${i}`).toBe(encode(s));
    }
    // the same through update(), whose recipes share the untouched fields
    await a.save({ ...shared, n: 0 });
    for (let i = 1; i <= 3; i++) {
      const s = await a.update((d: any) => {
        d.n = i;
        if (i === 2) d.turns.push({ role: 'user', text: 'more' });
      });
      expect(await stored()).toBe(encode(s));
    }
    const other = agent<any>(key);
    expect(await other.load()).toEqual(await a.load());
  });

  it('a field shared with the last saved state is not validated again, but a new invalid field still fails with its path and stores nothing', async () => {
    const a = agent<any>(uniqueName('fields'));
    const base = { turns: [{ text: 'a' }], step: 0 };
    await a.save(base);
    const s1 = await a.update((d: any) => {
      d.step = 1;
    });
    const err = await a.save({ ...s1, handler: () => 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    expect((err as SerializationError).path).toBe('$.handler');
    const cyclic: Record<string, unknown> = { ...s1 };
    cyclic.self = { back: cyclic };
    const err2 = await a.save(cyclic).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(SerializationError);
    expect((err2 as SerializationError).path).toBe('$.self.back');
    const bad = await a.save({ ...s1, [Symbol('s')]: 1 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SerializationError);
    expect(await a.version()).toBe(2);
    // what was saved is frozen, fields shared or not
    await a.save({ ...s1, step: 2, fresh: { list: [1] } });
    const saved = await a.load();
    expect(saved.turns).toBe(s1.turns);
    expect(Object.isFrozen(saved) && Object.isFrozen(saved.fresh) && Object.isFrozen(saved.fresh.list)).toBe(true);
  });

  it('a field that was mutable, or holds bytes, is encoded again on every save (its changes are stored)', async () => {
    const a = agent<any>(uniqueName('fields'));
    const mutable = { list: [1] };
    await a.save({ mutable, n: 1 });
    mutable.list.push(2);
    await a.save({ mutable, n: 2 });
    mutable.list.push(3); // what was saved is a frozen copy: the caller's object stays its own
    const loaded = await a.load();
    expect(loaded.mutable).toEqual({ list: [1, 2] });
    expect(Object.isFrozen(loaded.mutable.list)).toBe(true);
    const s = await a.update(() => ({ blob: { b: new Uint8Array([1]) }, n: 3 }));
    s.blob.b[0] = 9; // bytes cannot be frozen: the state handed back still has them mutable
    await a.save({ ...s, n: 4 });
    expect((await a.load()).blob.b).toEqual(new Uint8Array([9]));
    expect(await redis.lindex(a.redisKey, 1)).toBe(encode({ blob: { b: new Uint8Array([9]) }, n: 4 }));
  });

  it('load of a key holding foreign data throws CorruptionError and leaves the data in place', async () => {
    const a = agent<number>(uniqueName('corrupt'));
    await redis.set(a.redisKey, 'not a list');
    await expect(a.load()).rejects.toBeInstanceOf(CorruptionError);
    await expect(a.save(1)).rejects.toBeInstanceOf(CorruptionError);
    expect(await redis.get(a.redisKey)).toBe('not a list');
    const b = agent<number>(uniqueName('corrupt'));
    await redis.lpush(b.redisKey, 'garbage without header');
    await expect(b.load()).rejects.toBeInstanceOf(CorruptionError);
    await expect(b.save(1)).rejects.toBeInstanceOf(CorruptionError);
    await redis.del(b.redisKey);
    await redis.rpush(b.redisKey, '1:5', '{not json');
    await expect(b.load()).rejects.toBeInstanceOf(CorruptionError);
    expect(await redis.lrange(b.redisKey, 0, -1)).toEqual(['1:5', '{not json']);
    await redis.del(b.redisKey);
    await redis.rpush(b.redisKey, '1:5');
    await expect(b.load()).rejects.toBeInstanceOf(CorruptionError);
  });

  it('subscribe reports each save once, in the saving process and in another instance', async () => {
    const key = uniqueName('sub');
    const a = agent<{ v: number }>(key);
    const b = agent<{ v: number }>(key);
    const seenA: number[] = [];
    const seenB: [number, { v: number }][] = [];
    const offA = a.subscribe((_s, info) => seenA.push(info.version));
    b.subscribe((s, info) => seenB.push([info.version, s]));
    await Promise.all([a.subscribed(), b.subscribed()]);
    for (let i = 1; i <= 5; i++) await a.save({ v: i });
    await until('notifications', () => seenB.length >= 5 && seenA.length >= 5);
    await sleep(100); // a duplicate delivery would arrive within this time
    expect(seenA).toEqual([1, 2, 3, 4, 5]);
    expect(seenB).toEqual([1, 2, 3, 4, 5].map((v) => [v, { v }]));
    offA();
    await a.save({ v: 6 });
    await until('b sees 6', () => seenB.length === 6);
    expect(seenA).toEqual([1, 2, 3, 4, 5]);
  });

  it('saves made while the subscriber connection was down are reported when it is back, oldest first; earlier ones are not news', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const key = uniqueName('replay');
      const errors: unknown[] = [];
      const a = agent<{ v: number }>(key, { url: proxy.url(REDIS_URL), onNotificationError: (e) => errors.push(e) });
      const b = agent<{ v: number }>(key);
      await b.save({ v: 0 }); // version 1, before anyone subscribed
      const seen: [number, number][] = [];
      a.subscribe((s, info) => seen.push([info.version, s.v]));
      await a.subscribed();
      await b.save({ v: 1 });
      await until('version 2', () => seen.length === 1);
      proxy.cut();
      for (let i = 2; i <= 4; i++) await b.save({ v: i }); // versions 3..5, announced while a is away
      proxy.restore();
      await until('the saves made during the outage', () => seen.length === 4);
      await b.save({ v: 5 });
      await until('live notifications again', () => seen.length === 5);
      await sleep(150); // a duplicate would arrive within this time
      expect(seen).toEqual([[2, 1], [3, 2], [4, 3], [5, 4], [6, 5]]);
      // a longer outage than the history holds: the oldest missed saves are gone, the newest are reported
      const key2 = uniqueName('replay2');
      const c = agent<{ v: number }>(key2, { url: proxy.url(REDIS_URL), onNotificationError: (e) => errors.push(e) });
      const d = agent<{ v: number }>(key2, { maxHistory: 2 });
      const seenC: number[] = [];
      c.subscribe((_s, info) => seenC.push(info.version));
      await c.subscribed();
      proxy.cut();
      for (let i = 1; i <= 5; i++) await d.save({ v: i });
      proxy.restore();
      await until('the newest missed saves', () => seenC.length === 2);
      await sleep(150);
      expect(seenC).toEqual([4, 5]);
      // saves from before the subscription are not news, even when the first thing it sees is an outage
      const key3 = uniqueName('replay3');
      const e = agent<{ v: number }>(key3, { url: proxy.url(REDIS_URL), onNotificationError: (x) => errors.push(x) });
      const f = agent<{ v: number }>(key3);
      await f.save({ v: 1 });
      await f.save({ v: 2 });
      const seenE: number[] = [];
      e.subscribe((_s, info) => seenE.push(info.version));
      await e.subscribed();
      proxy.cut();
      await f.save({ v: 3 });
      proxy.restore();
      await until('the save made during the outage', () => seenE.length === 1);
      await sleep(150);
      expect(seenE).toEqual([3]);
      // subscribing while Redis cannot be reached: subscribed() says so, and once Redis is back the
      // subscription works (saves from then on are reported; what was stored meanwhile is not news)
      const key4 = uniqueName('replay4');
      const g = agent<{ v: number }>(key4, { url: proxy.url(REDIS_URL), onNotificationError: (x) => errors.push(x) });
      const h = agent<{ v: number }>(key4);
      const seenG: number[] = [];
      proxy.cut();
      g.subscribe((_s, info) => seenG.push(info.version));
      await expect(g.subscribed()).rejects.toBeInstanceOf(BackendUnavailableError);
      await h.save({ v: 1 });
      proxy.restore();
      // g reconnects and subscribes in its own time (back-off up to 1 s, longer on a loaded
      // machine): keep saving until it reports one
      let v = 1;
      await until(
        'a save after the failed subscribe',
        async () => {
          if (seenG.length > 0) return true;
          await h.save({ v: ++v });
          return false;
        },
        30_000,
      );
      await sleep(150);
      expect(seenG[0]).toBeGreaterThan(1); // version 1, stored while g was away before it ever subscribed, is not news
      expect(seenG).toEqual([...new Set(seenG)].sort((x, y) => x - y)); // each once, in order
      expect(errors.filter((e) => !(e instanceof BackendUnavailableError))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it('a malformed change notification goes to onNotificationError as CorruptionError', async () => {
    const errors: unknown[] = [];
    const a = agent<number>(uniqueName('badnote'), { onNotificationError: (e) => errors.push(e) });
    const got: number[] = [];
    a.subscribe((s) => got.push(s));
    await a.subscribed();
    await redis.publish(a.channel, 'garbage');
    await until('the error', () => errors.length === 1);
    expect(errors[0]).toBeInstanceOf(CorruptionError);
    await a.save(7);
    await until('the save', () => got.length === 1);
    expect(got).toEqual([7]);
  });

  it('subscribe fires for a save made by a child process', async () => {
    const key = uniqueName('xproc');
    const a = agent<unknown>(key);
    const got: unknown[] = [];
    a.subscribe((s) => got.push(s));
    await a.subscribed();
    await runWorker('redis-agent-worker.ts', [REDIS_URL, prefix, key, 'save', JSON.stringify({ from: 'child' })]);
    await until('the child save', () => got.length === 1);
    expect(got).toEqual([{ from: 'child' }]);
  });

  it('4 child processes doing update() increments on one key end at the exact total', async () => {
    const key = uniqueName('incr');
    const per = 25;
    await Promise.all(Array.from({ length: 4 }, () => runWorker('redis-agent-worker.ts', [REDIS_URL, prefix, key, 'increment', String(per)], 120_000)));
    const a = agent<{ n: number }>(key);
    expect(await a.load()).toEqual({ n: 4 * per });
    expect(await a.version()).toBe(4 * per);
  }, 180_000);

  it('a connection cut mid-operation throws BackendUnavailableError, and the agent works again once restored', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const a = agent<{ n: number }>(uniqueName('fault'), { url: proxy.url(REDIS_URL) });
      await a.save({ n: 1 });
      // cut while a burst of operations is in flight
      const inflight = Array.from({ length: 20 }, (_, i) => (i % 2 ? a.load() : a.save({ n: i })).then(() => 'ok', (e: unknown) => e));
      proxy.cut();
      const results = await Promise.all(inflight);
      const errors = results.filter((r) => r !== 'ok');
      expect(errors.length).toBeGreaterThan(0);
      for (const e of errors) expect(e).toBeInstanceOf(BackendUnavailableError);
      // while down, calls fail (promptly, rather than queueing for ever)
      await expect(a.load()).rejects.toBeInstanceOf(BackendUnavailableError);
      proxy.restore();
      await until('reconnect', async () => a.load().then(() => true, () => false));
      await a.save({ n: 100 });
      expect(await a.load()).toEqual({ n: 100 });
    } finally {
      await proxy.close();
    }
  });

  it('a server that stops answering (black hole): calls fail with BackendUnavailableError after commandTimeout, later ones too, and the agent works again once restored', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      // 1 s: a prompt reply is timed out only if the event loop stalls that long (300 ms could on a loaded machine)
      const a = agent<{ n: number }>(uniqueName('hole'), { url: proxy.url(REDIS_URL), redisOptions: { commandTimeout: 1_000 } });
      await a.save({ n: 1 });
      proxy.blackhole();
      const t0 = performance.now();
      const error = await within(a.save({ n: 2 }).then(() => undefined, (e: unknown) => e), 20_000, 'a save on a stalled connection');
      expect(error).toBeInstanceOf(BackendUnavailableError);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(1_000); // reported after the timeout, never before
      // the next call does not wait for ever on the stalled connection either
      await expect(within(a.load(), 20_000, 'a load after the stalled save')).rejects.toBeInstanceOf(BackendUnavailableError);
      proxy.restore();
      await until('reconnect', async () => a.load().then(() => true, () => false));
      // the proxy held the stalled save's bytes (as a network may) and delivers them on restore, so
      // that save may land, once, after its caller was told it failed; the agent simply works
      await until('the stalled connection to drain', () => proxy.connections <= 1);
      await a.save({ n: 3 });
      expect(await a.load()).toEqual({ n: 3 });
      const history = await a.history();
      expect(history.length).toBe(await a.version());
      expect([[{ n: 3 }, { n: 1 }], [{ n: 3 }, { n: 2 }, { n: 1 }]]).toContainEqual(history);
    } finally {
      await proxy.close();
    }
  });

  it('close() on a server that stopped answering returns after about commandTimeout (QUIT is not waited for ever)', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const a = new RedisAgent<{ n: number }>({ url: proxy.url(REDIS_URL), prefix, key: uniqueName('hole-close'), redisOptions: { commandTimeout: 1_000 } });
      await a.save({ n: 1 });
      proxy.blackhole();
      await within(a.close(), 20_000, 'close() on a server that stopped answering'); // commandTimeout ends the QUIT
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });

  it('with maxRetriesPerRequest overridden, a call on a stalled connection still fails after commandTimeout (ioredis keeps its own timer then)', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const a = agent<{ n: number }>(uniqueName('hole-retry'), { url: proxy.url(REDIS_URL), redisOptions: { commandTimeout: 1_000, maxRetriesPerRequest: 1 } });
      await a.save({ n: 1 });
      proxy.blackhole();
      const error = await within(a.save({ n: 2 }).then(() => undefined, (e: unknown) => e), 20_000, 'a save on a stalled connection');
      expect(error).toBeInstanceOf(BackendUnavailableError);
      proxy.restore();
      await until('reconnect', async () => a.load().then(() => true, () => false));
    } finally {
      await proxy.close();
    }
  });

  it('the command-timeout watchdog leaves an idle or busy healthy connection alone and drops a stalled one', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    const client = new Redis(proxy.url(REDIS_URL), { maxRetriesPerRequest: 0, retryStrategy: () => 50 });
    client.on('error', () => undefined);
    let closes = 0;
    client.on('close', () => void closes++);
    // 1 s: a prompt SET is flagged only if the event loop stalls that long (100 ms could on a loaded machine)
    const TIMEOUT = 1_000;
    const stop = watchStalls(client, TIMEOUT);
    try {
      await client.ping();
      await sleep(2 * TIMEOUT); // idle for two timeouts
      const t0 = performance.now();
      let n = 0;
      while (n < 20 || performance.now() - t0 < 2 * TIMEOUT) {
        await client.set(`${prefix}watch`, String(n++)); // busy for two timeouts, each reply prompt
      }
      expect(closes).toBe(0);
      proxy.blackhole();
      const t1 = performance.now();
      // the watchdog ends it (a black hole never answers: without it the call would wait for ever), not before the timeout
      await expect(within(client.get(`${prefix}watch`), 20_000, 'a GET on a stalled connection')).rejects.toThrow(/max retries per request/);
      expect(performance.now() - t1).toBeGreaterThanOrEqual(TIMEOUT);
      expect(closes).toBeGreaterThanOrEqual(1); // by destroying the connection
      proxy.restore();
      await until('reconnect', async () => client.get(`${prefix}watch`).then(() => true, () => false));
      expect(await client.get(`${prefix}watch`)).toBe(String(n - 1));
    } finally {
      stop();
      client.disconnect();
      await proxy.close();
    }
  });

  it('a script the server does not know yet runs via EVAL once and is cached for EVALSHA', async () => {
    const marker = uniqueName('script');
    const script = new LuaScript(`return '${marker}'`);
    expect(await redis.script('EXISTS', script.sha)).toEqual([0]);
    expect(await script.run(redis, [], [])).toBe(marker);
    expect(await redis.script('EXISTS', script.sha)).toEqual([1]);
    expect(await script.run(redis, [], [])).toBe(marker);
  });

  it('close quits a client created from url but not a client passed in', async () => {
    const mine = new Redis(REDIS_URL);
    const a = new RedisAgent<number>({ redis: mine, prefix, key: uniqueName('own') });
    await a.save(1);
    await a.close();
    expect(await mine.ping()).toBe('PONG');
    await mine.quit();
    const b = agent<number>(uniqueName('own'));
    await b.save(1);
    await b.close();
    await expect(b.load()).rejects.toThrow(/closed/);
  });
});
