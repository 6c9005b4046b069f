import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { BackendUnavailableError, ConcurrencyError, CorruptionError, InvalidKeyError, ValidationError } from '../src/index.js';
import { RedisEventLog } from '../src/redis.js';
import { eventLogContract } from '../src/testing/event-log-contract.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';
import { deleteByPrefix, scanKeys } from './fixtures/redis-keys.js';
import { startTcpProxy } from './support/tcp-proxy.js';
import { expectSubscriptionRidesOutOutage } from './support/subscription-outage.js';

const up = await requireService('Redis', REDIS_URL);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function dropLog(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  await deleteByPrefix(r, `{${prefix}}`);
  await r.quit();
}

if (up) {
  eventLogContract(
    'RedisEventLog',
    () => {
      const prefix = uniqueName('dgent_test_log');
      return { open: () => new RedisEventLog({ url: REDIS_URL, prefix, pageSize: 4 }), cleanup: () => dropLog(prefix) };
    },
    // durable depends on the server's AOF settings, so the log does not claim it
    { reopen: true, requires: ['appendMany'] },
  );
}

describe.skipIf(!up)('RedisEventLog', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  const logs: RedisEventLog[] = [];
  const open = (extra: Partial<ConstructorParameters<typeof RedisEventLog>[0]> = {}, prefix = uniqueName('dgent_test_log')): RedisEventLog => {
    prefixes.push(prefix);
    const log = new RedisEventLog({ url: REDIS_URL, prefix, ...extra });
    logs.push(log);
    return log;
  };
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const l of logs) await l.close();
    for (const p of prefixes) await dropLog(p);
    await redis.quit();
  });

  it('every key of a log carries the {prefix} hash tag, whatever the stream name', async () => {
    const prefix = uniqueName('dgent_test_log');
    const log = open({}, prefix);
    await log.append('a}{b*', [{ type: 'T', data: 1, id: 'x' }]);
    const keys = await scanKeys(redis, `{${prefix}}`);
    expect(keys.sort()).toEqual([`{${prefix}}:all`, `{${prefix}}:ids`, `{${prefix}}:pos`, `{${prefix}}:s:a}{b*`].sort());
    expect(() => new RedisEventLog({ url: REDIS_URL, prefix: 'a{b' })).toThrow(InvalidKeyError);
    expect(() => new RedisEventLog({ url: REDIS_URL, prefix: '' })).toThrow(InvalidKeyError);
  });

  it('reads page through long streams in both directions with a small pageSize', async () => {
    const log = open({ pageSize: 3 });
    for (let i = 0; i < 5; i++) await log.append('s', Array.from({ length: 4 }, (_, k) => ({ type: 'T', data: i * 4 + k + 1 })));
    expect((await collect(log.read('s'))).map((e) => e.data)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await collect(log.read('s', { direction: 'backward', fromRevision: 15, toRevision: 4 }))).map((e) => e.revision)).toEqual(
      Array.from({ length: 12 }, (_, i) => 15 - i),
    );
    expect((await collect(log.read('s', { fromRevision: 5, limit: 7 }))).map((e) => e.revision)).toEqual([5, 6, 7, 8, 9, 10, 11]);
    expect((await collect(log.readAll({ fromPosition: 2, limit: 10 }))).map((e) => e.position)).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('concurrent appends from several connections get gapless positions in commit order', async () => {
    const prefix = uniqueName('dgent_test_log');
    const writers = Array.from({ length: 4 }, () => open({}, prefix));
    const results = await Promise.all(
      writers.flatMap((w, i) => Array.from({ length: 25 }, (_, k) => w.append(`w${i}`, [{ type: 'T', data: k }, { type: 'T', data: k }]))),
    );
    const all = await collect(writers[0]!.readAll());
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(new Set(results.map((r) => r.position)).size).toBe(100);
    for (let i = 0; i < 4; i++) expect(await writers[0]!.revision(`w${i}`)).toBe(50);
  });

  it('appendMany with a conflict in a later stream appends nothing, and with repeated stream throws ValidationError', async () => {
    const log = open();
    await log.append('b', [{ type: 'T', data: 1 }]);
    const err = await log
      .appendMany([
        { stream: 'a', events: [{ type: 'T', data: 1 }] },
        { stream: 'b', events: [{ type: 'T', data: 2 }], expectedRevision: 0 },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 0, actual: 1 });
    expect(await log.revision('a')).toBe(0);
    expect(await collect(log.readAll())).toHaveLength(1);
    await expect(log.appendMany([{ stream: 'a', events: [{ type: 'T', data: 1 }] }, { stream: 'a', events: [{ type: 'T', data: 1 }] }])).rejects.toBeInstanceOf(ValidationError);
  });

  it('a global entry that is not a dgent event makes reads throw CorruptionError', async () => {
    const prefix = uniqueName('dgent_test_log');
    const log = open({}, prefix);
    await log.append('s', [{ type: 'T', data: 1 }]);
    await redis.xadd(`{${prefix}}:all`, '2-0', 'x', 'y');
    await expect(collect(log.readAll())).rejects.toBeInstanceOf(CorruptionError);
    await redis.xadd(`{${prefix}}:all`, '3-0', 's', 's', 'r', '2', 'i', 'q', 't', 'T', 'd', '{bad', 'm', '', 'ts', '1');
    await expect(collect(log.readAll({ fromPosition: 2 }))).rejects.toBeInstanceOf(CorruptionError);
    await redis.set(`{${prefix}}:s:str`, 'not a stream');
    await expect(log.append('str', [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(CorruptionError);
  });

  it('a connection cut mid-append throws BackendUnavailableError, nothing is half-written, and the log works again once restored', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const prefix = uniqueName('dgent_test_log');
      const log = open({ url: proxy.url(REDIS_URL) }, prefix);
      await log.append('s', [{ type: 'T', data: 0 }]);
      const inflight = Array.from({ length: 20 }, (_, i) => log.append(`s${i % 3}`, [{ type: 'T', data: i }, { type: 'U', data: i }]).then(() => 'ok', (e: unknown) => e));
      proxy.cut();
      const outcomes = await Promise.all(inflight);
      const failed = outcomes.filter((o) => o !== 'ok');
      expect(failed.length).toBeGreaterThan(0);
      for (const f of failed) expect(f).toBeInstanceOf(BackendUnavailableError);
      await expect(log.revision('s')).rejects.toBeInstanceOf(BackendUnavailableError);
      proxy.restore();
      const deadline = Date.now() + 15_000;
      while (await log.revision('s').then(() => false, () => true)) {
        if (Date.now() > deadline) throw new Error('no reconnect');
        await new Promise((r) => setTimeout(r, 50));
      }
      // an append whose reply was lost may or may not have happened, but never in part
      const all = await collect(log.readAll());
      expect(all.filter((e) => e.type === 'T').length).toBe(all.filter((e) => e.type === 'U').length + 1);
      expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
      await log.append('s', [{ type: 'T', data: 99 }]);
    } finally {
      await proxy.close();
    }
  });

  it('subscribe delivers events appended by another instance after the subscription went idle', async () => {
    const prefix = uniqueName('dgent_test_log');
    const reader = open({}, prefix);
    const writer = open({}, prefix);
    await writer.append('s', [{ type: 'T', data: 1 }]);
    const seen: number[] = [];
    const sub = reader.subscribe({}, (e) => void seen.push(e.data as number));
    while (seen.length < 1) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // the tail is now blocked in XREAD
    for (let i = 2; i <= 4; i++) {
      await writer.append('s', [{ type: 'T', data: i }]);
      const until = Date.now() + 15_000;
      while (seen.length < i && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
    }
    await sub.close();
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('a subscription rides out a Redis outage shorter than subscriptionRetryMs: afterwards it delivers what was appended meanwhile, in order, exactly once', async () => {
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const prefix = uniqueName('dgent_test_outage');
      const log = open({ url: proxy.url(REDIS_URL) }, prefix);
      await expectSubscriptionRidesOutOutage(log, open({}, prefix), proxy); // the writer: another process, direct
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });

  it('a subscription whose Redis stays away longer than subscriptionRetryMs ends with BackendUnavailableError on done', async () => {
    expect(() => open({ url: REDIS_URL, subscriptionRetryMs: -1 })).toThrow(ValidationError);
    const proxy = await startTcpProxy(REDIS_URL);
    try {
      const log = open({ url: proxy.url(REDIS_URL), subscriptionRetryMs: 500 });
      await log.append('s', [{ type: 'T', data: 0 }]);
      const seen: number[] = [];
      const sub = log.subscribe({}, (e) => void seen.push(e.position));
      while (seen.length < 1) await new Promise((r) => setTimeout(r, 10));
      const t0 = Date.now();
      proxy.cut();
      await expect(sub.done).rejects.toBeInstanceOf(BackendUnavailableError);
      // not before the window (the schedule within it is checked on a fake clock in subscription.test.ts)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
    } finally {
      proxy.restore();
      await proxy.close();
    }
  });
});
