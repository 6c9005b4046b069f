/**
 * Relationships on PostgreSQL (relations view inline in the log's schema, async in another, rebuilt)
 * and on Redis (async views, over a memory log): for random sequences with relates, unrelates,
 * deletes, expiries, purges and namespace drops, the relations view (and the audit view) equal the
 * reference model and both directions agree. Runs share one log per backend, each in namespaces of
 * its own. Then the Store's relationships on a PostgreSQL log, with its own views and with Redis views.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropRedisKeys } from './fixtures/redis-keys.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { RedisViewStorage } from '../src/projections/storage/redis-view-storage.js';
import type { ViewStorage } from '../src/projections/view-storage.js';
import { keyedViews, viewReaders } from '../src/projections/views/index.js';
import { relationsReader, relationsView } from '../src/projections/views/relations/projection.js';
import { Store } from '../src/store/store.js';
import { StateNotFoundError } from '../src/core/errors.js';
import { appendRelOps, checkAuditByKey, checkDirections, dumpKeyed, dumpRelations, models, namespacesOf, ofRun, PREDICATES, readAll, relOpsArb } from './store-relations-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { pgInlineAndAsyncViews } from './support/postgres-views.js';
import { asStoreAppends } from './support/store-appends.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const NAMES = ['kv', 'kv_versions', 'kv_audit', 'kv_relations'];
const views = () => [...keyedViews(), relationsView()];

const pgUp = await requireService('PostgreSQL', postgresUrl());
const redisUp = await requireService('Redis', REDIS_URL);
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/** One property over runs sharing a log: inline (optional), async and (every 10th run) rebuilt views equal the model. */
async function property(log: EventLog & MultiStreamAppender, storages: { inline?: ViewStorage; async: ViewStorage }, runners: { async: ProjectionRunner }, rebuildWith: ProjectionRunner): Promise<void> {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(relOpsArb, async (ops) => {
      const prefix = `r${++run}_`;
      const mine = new Set(namespacesOf(prefix));
      const keep = (ns: string) => mine.has(ns);
      await appendRelOps(log, ops, prefix);
      const model = models(ofRun(await readAll(log), keep));
      const check = async (s: ViewStorage) => {
        expect(await dumpRelations(relationsReader(s), keep)).toEqual(model.relations);
        expect(await dumpKeyed(viewReaders(s), keep)).toEqual(model.views);
        await checkDirections(relationsReader(s), model.relations, prefix, [undefined, PREDICATES[run % PREDICATES.length]]); // every predicate, and one (round trips on a server)
        await checkAuditByKey(viewReaders(s).audit, ofRun(await readAll(log), keep), model.views, prefix);
      };
      if (storages.inline) await check(storages.inline);
      await runners.async.whenCaughtUp({ timeoutMs: 30_000 });
      await check(storages.async);
      if (run % 10 === 1) {
        for (const name of NAMES) await rebuildWith.rebuild(name);
        await check(storages.inline ?? storages.async);
      }
    }),
    { numRuns: 100 },
  );
}

describe.skipIf(!pgUp)('relations view on PostgreSQL', () => {
  const pg = pgInlineAndAsyncViews('rel', views, schemas);

  it('inline, async and rebuilt relations views (and the audit view) equal the reference model; both directions agree (100 runs)', async () => {
    // counts the lone deletes, which take the fused statement (its relations delete is in play)
    const counting = asStoreAppends(pg.log);
    const before = pg.inlineStore.fusionStats().fused;
    await property(counting.log, { inline: pg.inlineStore, async: pg.asyncStore }, { async: pg.async }, pg.inline);
    // they took the fused statement, but the first after each of the 10 rebuilds (the usual path learns the new generations)
    expect(counting.deletes()).toBeGreaterThan(0);
    expect(pg.inlineStore.fusionStats().fused - before).toBeGreaterThanOrEqual(counting.fusable() - 10);
  }, 600_000);
});

describe.skipIf(!redisUp)('relations view on Redis (async)', () => {
  const prefix = uniqueName('rel');
  let log: MemoryEventLog;
  let store: RedisViewStorage;
  let async: ProjectionRunner;
  beforeAll(async () => {
    log = new MemoryEventLog();
    store = new RedisViewStorage({ url: REDIS_URL, prefix, generationCacheMs: 0 });
    async = new ProjectionRunner({ log, storage: store, batchSize: 5, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
    await async.start();
  });
  afterAll(async () => {
    await async?.close();
    if (store) {
      await dropRedisKeys(store, prefix);
      await store.close();
    }
    await log?.close();
  });

  it('async and rebuilt relations views (and the audit view) equal the reference model; both directions agree (100 runs)', async () => {
    await property(log, { async: store }, { async }, async);
  }, 600_000);
});

const objects = (rows: { object: { namespace: string; key: string } }[]) => rows.map((r) => `${r.object.namespace}/${r.object.key}`);

/** The Store scenario both PostgreSQL set-ups run: cascades of delete, purge and namespace drop, history, audit, a rebuild. */
async function storeScenario(store: Store): Promise<void> {
  const u = { namespace: 'users' };
  for (const k of ['a', 'b', 'c']) await store.set(k, { k }, u);
  await store.set('d', 1, { namespace: 'docs' });
  await expect(store.relate('a', 'p', 'zz', u)).rejects.toBeInstanceOf(StateNotFoundError);
  expect(await store.relate('a', 'p', 'b', { ...u, actor: 'ann' })).toEqual({ version: 1, written: true });
  expect(await store.relate('a', 'p', 'b', u)).toEqual({ version: 1, written: false });
  await store.relate('b', 'p', 'c', u);
  await store.relate('c', 'p', 'a', u);
  await store.relate('a', 'owns', { namespace: 'docs', key: 'd' }, u);
  expect(objects(await store.related('a', undefined, u))).toEqual(['docs/d', 'users/b']); // by predicate: owns < p
  expect((await store.relatedTo('a', 'p', u)).map((r) => r.subject.key)).toEqual(['c']);
  await store.delete('c', u);
  expect(await store.related('b', 'p', u)).toEqual([]);
  expect(await store.relatedTo('a', 'p', u)).toEqual([]);
  await store.purge('b', u);
  expect(objects(await store.related('a', undefined, u))).toEqual(['docs/d']);
  expect(await store.relationHistory('a', 'p', 'b', u)).toEqual([]);
  await store.deleteNamespace('docs', { recursive: true });
  expect(await store.related('a', undefined, u)).toEqual([]);
  expect((await store.relationHistory('a', 'owns', { namespace: 'docs', key: 'd' }, u)).map((h) => h.operation)).toEqual(['deleteNamespace', 'relate']);
  // a's relates (a p b by ann, a owns d) and c's relate naming a as its object
  expect((await store.audit({ namespace: 'users', key: 'a', operation: 'relate' })).map((e) => [e.key, e.actor, e.metadata])).toEqual([
    ['a', 'ann', { predicate: 'p', object: { namespace: 'users', key: 'b' } }],
    ['c', null, { predicate: 'p', object: { namespace: 'users', key: 'a' } }],
    ['a', null, { predicate: 'owns', object: { namespace: 'docs', key: 'd' } }],
  ]);
  expect((await store.audit({ namespace: 'docs', key: 'd', operation: 'relate' })).map((e) => e.key)).toEqual(['a']);
  await store.set('b', 2, u);
  await store.relate('b', 'p', 'a', u);
  expect(objects(await store.related('b', 'p', u))).toEqual(['users/a']); // a Store read: async views have caught up with the Store's writes
  const before = await relationsReader(store.views).all();
  expect(before).toHaveLength(1);
  await store.rebuildViews({ only: ['kv_relations'] });
  expect(await relationsReader(store.views).all()).toEqual(before);
  expect(objects(await store.related('b', 'p', u))).toEqual(['users/a']);
}

describe.skipIf(!pgUp)('Store relationships on PostgreSQL', () => {
  it('with its own inline views: relate, cascades of delete / purge / namespace drop, history, audit, rebuild', async () => {
    const schema = uniqueSchema('rel_store');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      await storeScenario(store);
    } finally {
      await store.close();
      await log.close();
    }
  }, 60_000);

  it.skipIf(!redisUp)('with Redis views (async): the same scenario', async () => {
    const schema = uniqueSchema('rel_store_redis');
    schemas.push(schema);
    const prefix = uniqueName('relstore');
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const views = new RedisViewStorage({ url: REDIS_URL, prefix });
    const store = new Store({ log, views, sweepIntervalMs: 0 });
    try {
      await storeScenario(store);
    } finally {
      await store.close();
      await dropRedisKeys(views, prefix);
      await views.close();
      await log.close();
    }
  }, 60_000);
});
