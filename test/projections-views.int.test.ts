/**
 * The KV, versions and audit views on PostgreSQL (inline in the log's schema, async in another
 * schema, rebuilt) and on Redis (async, over a memory log): for random keyed-event sequences every
 * view equals the reference model (purges erase the key's earlier events, as the Store's do, so
 * rebuilds and async views behind read `dgent.erased` events). Runs share one log and runner per backend, each run in its own
 * namespaces (the model folds that run's events; the views are read for those namespaces).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropRedisKeys } from './fixtures/redis-keys.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { PostgresViewStorage } from '../src/projections/storage/postgres-view-storage.js';
import { RedisViewStorage } from '../src/projections/storage/redis-view-storage.js';
import { kvView } from '../src/projections/views/kv/projection.js';
import { versionsView } from '../src/projections/views/versions/projection.js';
import { auditView } from '../src/projections/views/audit/projection.js';
import { PostgresKvReader } from '../src/projections/views/kv/postgres.js';
import { PostgresVersionsReader } from '../src/projections/views/versions/postgres.js';
import { PostgresAuditReader } from '../src/projections/views/audit/postgres.js';
import { RedisKvReader } from '../src/projections/views/kv/redis.js';
import { RedisVersionsReader } from '../src/projections/views/versions/redis.js';
import { RedisAuditReader } from '../src/projections/views/audit/redis.js';
import { dumpModel, emptyModel, foldKeyed } from '../src/projections/model.js';
import { checkReaders, readersArb } from './projections-views-readers.js';
import { readAll, appendOps, DELETED_THEN_PURGED, dumpViews, KEPT_THEN_DROPPED, namespacesOf, PURGED_CREATOR, ofNamespaces, opsArb, RETENTION, type ViewReaders } from './projections-views-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { pgInlineAndAsyncViews } from './support/postgres-views.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const NAMES = ['kv', 'kv_versions', 'kv_audit'];
const views = () => [kvView({ indexes: ['n'] }), versionsView({ retention: RETENTION.versions }), auditView({ retention: RETENTION.audit })];


const pgUp = await requireService('PostgreSQL', postgresUrl());
const redisUp = await requireService('Redis', REDIS_URL);
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/** One property over runs sharing a log: inline (optional), async and rebuilt views equal the model. */
async function property(log: EventLog & MultiStreamAppender, readers: { inline?: ViewReaders; async: ViewReaders }, runners: { inline?: ProjectionRunner; async: ProjectionRunner }, rebuildWith: ProjectionRunner) {
  let run = 0;
  await fc.assert(
    fc.asyncProperty(opsArb, async (ops) => {
      const prefix = `r${++run}_`;
      const mine = new Set(namespacesOf(prefix));
      const keep = (ns: string) => mine.has(ns);
      await appendOps(log, ops, prefix);
      const model = dumpModel(foldKeyed(emptyModel(), ofNamespaces(await readAll(log), keep), RETENTION));
      if (readers.inline) expect(await dumpViews(readers.inline, keep)).toEqual(model);
      await runners.async.whenCaughtUp({ timeoutMs: 30_000 });
      expect(await dumpViews(readers.async, keep)).toEqual(model);
      if (run % 10 === 1) {
        for (const name of NAMES) await rebuildWith.rebuild(name);
        const rebuilt = readers.inline ?? readers.async;
        expect(await dumpViews(rebuilt, keep)).toEqual(model);
      }
    }),
    { numRuns: 100, examples: [[PURGED_CREATOR], [DELETED_THEN_PURGED]] },
  );
}

describe.skipIf(!pgUp)('built-in views on PostgreSQL', () => {
  const pg = pgInlineAndAsyncViews('views', views, schemas);

  it('a set keeping metadata and a drop of its namespace in one async batch: the row keeps the metadata (regression)', async () => {
    const s = uniqueSchema('views_kept');
    const s2 = uniqueSchema('views_kept_async');
    schemas.push(s, s2);
    const l = new PostgresEventLog({ connectionString: postgresUrl(), schema: s });
    const store = new PostgresViewStorage({ connectionString: postgresUrl(), schema: s2, generationCacheMs: 0 });
    // started after the appends: it catches up in pages of 3, so the second batch is the blind one
    const runner = new ProjectionRunner({ log: l, storage: store, batchSize: 3, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
    try {
      await appendOps(l, KEPT_THEN_DROPPED);
      await runner.start();
      await runner.whenCaughtUp({ timeoutMs: 30_000 });
      const model = dumpModel(foldKeyed(emptyModel(), await readAll(l), RETENTION));
      expect(model.versions.some((v) => v.namespace === 'c' && v.version === 2 && v.metadata !== null)).toBe(true);
      expect(await dumpViews({ kv: new PostgresKvReader(store), versions: new PostgresVersionsReader(store), audit: new PostgresAuditReader(store) })).toEqual(model);
    } finally {
      await runner.close();
      await store.close();
      await l.close();
    }
  });

  it('inline, async and rebuilt views equal the reference model for random keyed-event sequences (100 runs)', async () => {
    const readers = (s: PostgresViewStorage): ViewReaders => ({ kv: new PostgresKvReader(s), versions: new PostgresVersionsReader(s), audit: new PostgresAuditReader(s) });
    await property(pg.log, { inline: readers(pg.inlineStore), async: readers(pg.asyncStore) }, { inline: pg.inline, async: pg.async }, pg.inline);
  }, 600_000);
});

describe.skipIf(!redisUp)('built-in views on Redis (async)', () => {
  const prefix = uniqueName('views');
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

  it('async and rebuilt views equal the reference model for random keyed-event sequences (100 runs)', async () => {
    const readers: ViewReaders = { kv: new RedisKvReader(store), versions: new RedisVersionsReader(store), audit: new RedisAuditReader(store) };
    await property(log, { async: readers }, { async }, async);
  }, 600_000);
});

describe.skipIf(!pgUp)('view readers on PostgreSQL', () => {
  it('query, count, list pages, getMany, expired, versions, time travel and audit filters answer as the model (40 runs)', async () => {
    const schema = uniqueSchema('readers');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new PostgresViewStorage({ connectionString: postgresUrl(), schema });
    const runner = new ProjectionRunner({ log, storage: store, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    const readers: ViewReaders = { kv: new PostgresKvReader(store), versions: new PostgresVersionsReader(store), audit: new PostgresAuditReader(store) };
    let run = 0;
    try {
      await runner.start();
      await fc.assert(fc.asyncProperty(readersArb, (input) => checkReaders(log, readers, async () => {}, `q${++run}`, input)), { numRuns: 40 });
    } finally {
      await runner.close();
      await store.close();
      await log.close();
    }
  }, 300_000);
});

describe.skipIf(!redisUp)('view readers on Redis', () => {
  it('query, count, list pages, getMany, expired, versions, time travel and audit filters answer as the model (40 runs)', async () => {
    const prefix = uniqueName('readers');
    const log = new MemoryEventLog();
    const store = new RedisViewStorage({ url: REDIS_URL, prefix });
    const runner = new ProjectionRunner({ log, storage: store, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
    const readers: ViewReaders = { kv: new RedisKvReader(store), versions: new RedisVersionsReader(store), audit: new RedisAuditReader(store) };
    let run = 0;
    try {
      await runner.start();
      await fc.assert(fc.asyncProperty(readersArb, (input) => checkReaders(log, readers, () => runner.whenCaughtUp({ timeoutMs: 30_000 }), `q${++run}`, input)), { numRuns: 40 });
    } finally {
      await runner.close();
      await dropRedisKeys(store, prefix);
      await store.close();
      await log.close();
    }
  }, 300_000);
});
