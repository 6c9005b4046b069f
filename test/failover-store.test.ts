/**
 * FallbackStore's read-modify-writes (update, incr, transaction), purge, subscribe and the
 * `queuedAt` of replayed writes, over a real PostgreSQL Store (the shared server, own schema)
 * reached through a TCP proxy that the tests cut and restore, and a real SQLite Store behind it;
 * the queue is a SqliteQueue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BackendUnavailableError, ValidationError } from '../src/core/errors.js';
import { sleep } from '../src/core/mutex.js';
import { fallback } from '../src/compose/fallback-agent.js';
import { SqliteQueue } from '../src/failover/sqlite-queue.js';
import type { WritePolicy } from '../src/failover/policy.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { Store } from '../src/store/store.js';
import type { StoreChange } from '../src/store/subscribe.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

let proxy: TcpProxy;
let dir: string;
const schemas: string[] = [];
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  proxy = await startTcpProxy(postgresUrl());
  dir = mkdtempSync(join(tmpdir(), 'dgent-failover-store-'));
});
afterEach(async () => {
  proxy.restore();
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});
afterAll(async () => {
  await proxy.close();
  await dropSchemas(schemas);
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/** A PostgreSQL Store through the proxy (set up before any cut: a Store whose setup failed stays failed), a SQLite Store and the fallback over them (PostgreSQL first). */
async function setup(writes: WritePolicy) {
  const schema = uniqueSchema('fo_store');
  schemas.push(schema);
  const pgLog = new PostgresEventLog({ connectionString: proxy.url(postgresUrl()), schema, connectTimeoutMs: 2000 });
  const sqliteLog = new SqliteEventLog({ path: join(dir, `local-${++n}.db`) });
  const pg = new Store({ log: pgLog, sweepIntervalMs: 0 });
  const local = new Store({ log: sqliteLog, sweepIntervalMs: 0 });
  const queue = writes === 'primary-then-queue' ? new SqliteQueue({ path: join(dir, `queue-${n}.db`) }) : undefined;
  const store = fallback(
    [
      { backend: pg, name: 'pg' },
      { backend: local, name: 'local' },
    ],
    queue ? { writes, queue, retryMs: 20 } : { writes },
  );
  await Promise.all([pg.ready(), local.ready()]);
  cleanup.push(async () => {
    await store.close();
    await Promise.all([pgLog.close(), sqliteLog.close(), queue?.close()]);
  });
  return { store, pg, local, queue };
}

/** Retry while PostgreSQL is still reconnecting. */
async function whenBack<T>(fn: () => Promise<T>, attempts = 400): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof BackendUnavailableError) || i >= attempts) throw e;
      await sleep(25);
    }
  }
}

async function drained(store: { drain(): Promise<number> }): Promise<void> {
  await whenBack(async () => {
    if ((await store.drain()) > 0) throw new BackendUnavailableError('test', 'still draining');
  });
}

describe("FallbackStore 'primary-then-queue': update, incr, transaction, purge", () => {
  it('while PostgreSQL is down they run on the SQLite Store; after the restart PostgreSQL holds the same values, metadata and expiry', async () => {
    const { store, pg, local } = await setup('primary-then-queue');
    const expiresAt = Date.now() + 3_600_000;
    await store.set('doc', { a: 1, tags: [] as string[] }, { metadata: { owner: 'ada' }, expiresAt });
    await store.set('gone', 'x');
    proxy.cut();
    expect(await store.update<{ a: number; tags: string[] }>('doc', (d) => void d!.tags.push('t'))).toEqual({ a: 1, tags: ['t'] });
    expect(await store.incr('hits', 2)).toBe(2);
    expect(await store.incr('hits', 3)).toBe(5);
    const r = await store.transaction(async (tx) => {
      const doc = await tx.get<{ a: number }>('doc');
      await tx.set('copy', doc!.a + 1);
      await tx.delete('gone');
      return 'ok';
    });
    expect(r).toBe('ok');
    expect((await store.status()).backends.map((b) => [b.name, b.available, b.queued])).toEqual([
      ['pg', false, 4],
      ['local', true, 0],
    ]);
    proxy.restore();
    await drained(store);
    for (const s of [pg, local]) {
      expect(await s.get('doc', { includeMetadata: true })).toMatchObject({ value: { a: 1, tags: ['t'] }, metadata: { owner: 'ada' }, expiresAt });
      expect(await s.get('hits')).toBe(5);
      expect(await s.get('copy')).toBe(2);
      expect(await s.has('gone')).toBe(false);
    }
  }, 120_000);

  it('while both are up they run once on PostgreSQL and the values they left are copied to SQLite at once (nothing queued)', async () => {
    const { store, pg, local } = await setup('primary-then-queue');
    await store.set('n', 1);
    await store.incr('n', 41);
    await store.update<number>('n', (v) => v! + 1);
    await store.transaction(async (tx) => {
      await tx.incr('n', 1);
      await tx.set('m', 'x', { metadata: { k: 1 } });
    });
    expect((await store.status()).queueDepth).toBe(0);
    // PostgreSQL holds the operations as made; SQLite the values they left
    expect((await pg.versions('n')).map((v) => v.operation)).toEqual(['incr', 'update', 'incr', 'set']);
    expect((await local.versions('n')).map((v) => v.value)).toEqual([44, 43, 42, 1]);
    for (const s of [pg, local]) {
      expect(await s.get('n')).toBe(44);
      expect(await s.get('m', { includeMetadata: true })).toMatchObject({ value: 'x', metadata: { k: 1 } });
    }
  }, 120_000);

  it('purge while PostgreSQL is down erases the key on SQLite now and on PostgreSQL once it is back (queued writes of the key before it included)', async () => {
    const { store, pg, local } = await setup('primary-then-queue');
    await store.set('secret', 'v1');
    proxy.cut();
    await store.set('secret', 'v2');
    await store.purge('secret');
    proxy.restore();
    await drained(store);
    for (const s of [pg, local]) {
      expect(await s.get('secret')).toBeUndefined();
      expect((await s.versions('secret')).filter((v) => v.value !== undefined)).toEqual([]);
    }
  }, 120_000);
});

describe('FallbackStore: queuedAt of replayed writes', () => {
  it('a write queued while PostgreSQL was down is replayed with the time it was queued, shown by audit() and in the event metadata', async () => {
    const { store, pg } = await setup('primary-then-queue');
    await store.set('k', 0);
    proxy.cut();
    const before = Date.now();
    await store.set('k', 1, { actor: 'ada' });
    await store.delete('k', { actor: 'bob' });
    const after = Date.now();
    await sleep(30); // the replay happens later
    proxy.restore();
    await drained(store);
    const audit = await store.audit({ key: 'k' });
    expect(audit.map((e) => [e.type, e.actor, e.queuedAt === undefined])).toEqual([
      ['kv.set', null, true],
      ['kv.set', 'ada', false],
      ['kv.deleted', 'bob', false],
    ]);
    for (const e of audit.slice(1)) {
      expect(e.queuedAt).toBeGreaterThanOrEqual(before);
      expect(e.queuedAt).toBeLessThanOrEqual(after);
      expect(e.time).toBeGreaterThan(e.queuedAt!); // replayed after it was queued
    }
    // straight from PostgreSQL's own audit and log: the view is unchanged, the event carries it
    expect((await pg.audit({ key: 'k' })).map((e) => e.actor)).toEqual([null, 'ada', 'bob']);
  }, 120_000);
});

describe('Store writes: eventMetadata (what carries queuedAt)', () => {
  it('lands in the metadata of the events set, delete, setMany and setMetadata append, never replacing operation, actor or tx; a non-object is ValidationError', async () => {
    const log = new SqliteEventLog({ path: join(dir, `meta-${++n}.db`) });
    const s = new Store({ log, sweepIntervalMs: 0 });
    cleanup.push(async () => {
      await s.close();
      await log.close();
    });
    const extra = { queuedAt: 5, operation: 'forged', actor: 'forged', tx: 'forged' };
    await s.set('k', 1, { actor: 'ada', eventMetadata: extra });
    await s.setMetadata('k', { m: 1 }, { actor: 'ada', eventMetadata: extra });
    await s.setMany([['j', 2]], { actor: 'ada', eventMetadata: extra } as never);
    await s.delete('k', { actor: 'ada', eventMetadata: extra });
    const metas: Record<string, unknown>[] = [];
    for await (const e of log.readAll()) if (e.stream.startsWith('kv:default/')) metas.push(e.metadata);
    expect(metas.map((m) => [m.queuedAt, m.operation, m.actor, m.tx])).toEqual([
      [5, 'set', 'ada', undefined],
      [5, 'setMetadata', 'ada', undefined],
      [5, 'set', 'ada', undefined],
      [5, 'delete', 'ada', undefined],
    ]);
    await expect(s.set('k', 1, { eventMetadata: [1] as never })).rejects.toBeInstanceOf(ValidationError);
  });
});

describe("FallbackStore 'all' and 'first-available': update, incr, transaction", () => {
  it("'all' runs them on PostgreSQL and copies the values to SQLite; while PostgreSQL is down they fail with BackendUnavailableError and change nothing", async () => {
    const { store, pg, local } = await setup('all');
    await store.set('c', 1);
    expect(await store.incr('c')).toBe(2);
    await store.transaction(async (tx) => void (await tx.set('d', (await tx.get<number>('c'))! * 10)));
    for (const s of [pg, local]) expect([await s.get('c'), await s.get('d')]).toEqual([2, 20]);
    proxy.cut();
    await expect(store.incr('c')).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(await local.get('c')).toBe(2);
  }, 120_000);

  it("'first-available' runs them on SQLite while PostgreSQL is down and copies nothing", async () => {
    const { store, pg, local } = await setup('first-available');
    await store.set('c', 1);
    proxy.cut();
    expect(await store.incr('c', 5)).toBe(5);
    proxy.restore();
    expect(await local.get('c')).toBe(5);
    expect(await whenBack(() => pg.get('c'))).toBe(1);
  }, 120_000);
});

describe('FallbackStore.subscribe', () => {
  it('follows PostgreSQL, moves to SQLite when a write finds PostgreSQL down (that write included), and hears each change once', async () => {
    const { store } = await setup('primary-then-queue');
    const heard: [string, unknown][] = [];
    const unsub = store.subscribe({}, (c: StoreChange) => void heard.push([c.key!, c.value]));
    await unsub.ready;
    await store.set('a', 1);
    await whenHeard(heard, 1);
    proxy.cut();
    await store.set('b', 2); // finds PostgreSQL down: the subscription moves first
    await store.set('c', 3);
    await whenHeard(heard, 3);
    proxy.restore();
    await drained(store); // the replays to PostgreSQL are not heard again
    await store.set('d', 4);
    await whenHeard(heard, 4);
    await sleep(200);
    expect(heard).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
      ['d', 4],
    ]);
    await unsub();
  }, 120_000);
});

async function whenHeard(heard: unknown[], count: number): Promise<void> {
  for (let i = 0; i < 400 && heard.length < count; i++) await sleep(25);
  expect(heard.length).toBeGreaterThanOrEqual(count);
}

describe('FallbackStore property', () => {
  it('random sets, incrs, updates and transactions while PostgreSQL goes down and up: both Stores end with the values a model predicts', async () => {
    type Step = { kind: 'set'; k: number; v: number } | { kind: 'incr'; k: number; by: number } | { kind: 'update'; k: number } | { kind: 'tx'; a: number; b: number } | { kind: 'cut' } | { kind: 'restore' };
    const key = fc.integer({ min: 0, max: 3 });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), k: key, v: fc.integer({ min: -50, max: 50 }) }),
      fc.record({ kind: fc.constant('incr' as const), k: key, by: fc.integer({ min: -5, max: 5 }) }),
      fc.record({ kind: fc.constant('update' as const), k: key }),
      fc.record({ kind: fc.constant('tx' as const), a: key, b: key }),
      fc.constant({ kind: 'cut' as const }),
      fc.constant({ kind: 'restore' as const }),
    ) as fc.Arbitrary<Step>;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        proxy.restore();
        const { store, pg, local } = await setup('primary-then-queue');
        const model = new Map<string, number>();
        for (const s of steps) {
          if (s.kind === 'cut') proxy.cut();
          else if (s.kind === 'restore') proxy.restore();
          else if (s.kind === 'set') {
            await store.set(`k${s.k}`, s.v);
            model.set(`k${s.k}`, s.v);
          } else if (s.kind === 'incr') {
            const got = await store.incr(`k${s.k}`, s.by);
            model.set(`k${s.k}`, (model.get(`k${s.k}`) ?? 0) + s.by);
            expect(got).toBe(model.get(`k${s.k}`));
          } else if (s.kind === 'update') {
            if (!model.has(`k${s.k}`)) continue;
            await store.update<number>(`k${s.k}`, (v) => v! * 2);
            model.set(`k${s.k}`, model.get(`k${s.k}`)! * 2);
          } else {
            await store.transaction(async (tx) => {
              const a = (await tx.get<number>(`k${s.a}`)) ?? 0;
              await tx.set(`k${s.b}`, a + 1);
              if (s.a !== s.b) await tx.delete(`k${s.a}`);
            });
            const a = model.get(`k${s.a}`) ?? 0;
            model.set(`k${s.b}`, a + 1);
            if (s.a !== s.b) model.delete(`k${s.a}`);
          }
        }
        proxy.restore();
        await drained(store);
        for (const s of [pg, local]) {
          for (let k = 0; k < 4; k++) expect(await whenBack(() => s.get(`k${k}`))).toBe(model.get(`k${k}`));
        }
        await cleanup.pop()!();
      }),
      { numRuns: 15 },
    );
  }, 300_000);
});
