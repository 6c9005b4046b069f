/**
 * The KV, versions and audit views on PostgreSQL (inline in the log's schema, async in another
 * schema, rebuilt) and on Redis (async, over a memory log): for random keyed-event sequences every
 * view equals the reference model (purges erase the key's earlier events, as the Store's do, so
 * rebuilds and async views behind read `dgent.erased` events). Runs share one log and runner per backend, each run in its own
 * namespaces (the model folds that run's events; the views are read for those namespaces).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { EventLog, MultiStreamAppender, RecordedEvent } from '../src/streams/event-log.js';
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
import { appendOps, DELETED_THEN_PURGED, dumpViews, KEPT_THEN_DROPPED, namespacesOf, PURGED_CREATOR, ofNamespaces, opsArb, RETENTION, type ViewReaders } from './projections-views-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const NAMES = ['kv', 'kv_versions', 'kv_audit'];
const views = () => [kvView({ indexes: ['n'] }), versionsView({ retention: RETENTION.versions }), auditView({ retention: RETENTION.audit })];

async function readAll(log: EventLog): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of log.readAll()) out.push(e);
  return out;
}

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
  const schema = uniqueSchema('views');
  const asyncSchema = uniqueSchema('views_async');
  schemas.push(schema, asyncSchema);
  let log: PostgresEventLog;
  let inlineStore: PostgresViewStorage;
  let asyncStore: PostgresViewStorage;
  let inline: ProjectionRunner;
  let async: ProjectionRunner;
  beforeAll(async () => {
    log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    inlineStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    asyncStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema: asyncSchema, generationCacheMs: 0 });
    inline = new ProjectionRunner({ log, storage: inlineStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    async = new ProjectionRunner({ log, storage: asyncStore, batchSize: 5, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
    await inline.start();
    await async.start();
  });
  afterAll(async () => {
    await async?.close();
    await inline?.close();
    await Promise.all([inlineStore?.close(), asyncStore?.close()]);
    await log?.close();
  });

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
    await property(log, { inline: readers(inlineStore), async: readers(asyncStore) }, { inline, async }, inline);
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
      let cursor = '0';
      do {
        const [next, keys] = await store.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await store.redis.del(...keys);
      } while (cursor !== '0');
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
      let cursor = '0';
      do {
        const [next, keys] = await store.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await store.redis.del(...keys);
      } while (cursor !== '0');
      await store.close();
      await log.close();
    }
  }, 300_000);
});
