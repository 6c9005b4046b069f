/**
 * Retention of the relation history on PostgreSQL (inline and async views, rebuilt) and Redis
 * (async views over a memory log), against the model (store-relations-retention-support.ts).
 * Each run has its own log schema / view prefix (the retention by age is relative to the newest
 * event of the log, so runs cannot share one).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { dropRedisKeys } from './fixtures/redis-keys.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { PostgresViewStorage } from '../src/projections/storage/postgres-view-storage.js';
import { RedisViewStorage } from '../src/projections/storage/redis-view-storage.js';
import type { ViewStorage } from '../src/projections/view-storage.js';
import { relationsReader, relationsView } from '../src/projections/views/relations/projection.js';
import type { RelationHistoryRetentionOptions } from '../src/projections/views/relations/rows.js';
import { appendRelOps, dumpRelations, readAll, type RelOp } from './store-relations-support.js';
import { pause, retainedModel, retentionArb, retentionOpsArb } from './store-relations-retention-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const pgUp = await requireService('PostgreSQL', postgresUrl());
const redisUp = await requireService('Redis', REDIS_URL);
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

async function run(log: EventLog & MultiStreamAppender, storages: { inline?: ViewStorage; async: ViewStorage }, ops: RelOp[], retention: RelationHistoryRetentionOptions): Promise<void> {
  const view = () => relationsView({ retention });
  const inline = storages.inline && new ProjectionRunner({ log, storage: storages.inline, projections: [{ projection: view(), mode: 'inline' as const }] });
  const async = new ProjectionRunner({ log, storage: storages.async, batchSize: 3, batchMs: 1, projections: [{ projection: view(), mode: 'async' as const }] });
  try {
    await inline?.start();
    await async.start();
    for (let i = 0; i < ops.length; i += 4) {
      await appendRelOps(log, ops.slice(i, i + 4));
      await pause(2);
    }
    const model = retainedModel(await readAll(log), retention);
    if (storages.inline) expect(await dumpRelations(relationsReader(storages.inline))).toEqual(model);
    await async.whenCaughtUp({ timeoutMs: 30_000 });
    expect(await dumpRelations(relationsReader(storages.async))).toEqual(model);
    await (inline ?? async).rebuild('kv_relations');
    expect(await dumpRelations(relationsReader(storages.inline ?? storages.async))).toEqual(model);
  } finally {
    await async.close();
    await inline?.close();
  }
}

describe('relation history retention on servers', () => {
  it.skipIf(!pgUp)('PostgreSQL: inline, async and rebuilt views keep the history the model keeps (40 runs, one schema each)', async () => {
    await fc.assert(
      fc.asyncProperty(retentionOpsArb, retentionArb, async (ops, retention) => {
        const schema = uniqueSchema('relret');
        const asyncSchema = uniqueSchema('relret_a');
        schemas.push(schema, asyncSchema);
        const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
        const inlineStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
        const asyncStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema: asyncSchema, generationCacheMs: 0 });
        try {
          await run(log, { inline: inlineStore, async: asyncStore }, ops, retention);
        } finally {
          await Promise.all([inlineStore.close(), asyncStore.close()]);
          await log.close();
        }
      }),
      { numRuns: 40 },
    );
  }, 600_000);

  it.skipIf(!redisUp)('Redis: async and rebuilt views keep the history the model keeps (60 runs, one prefix each)', async () => {
    await fc.assert(
      fc.asyncProperty(retentionOpsArb, retentionArb, async (ops, retention) => {
        const prefix = uniqueName('relret');
        const log = new MemoryEventLog();
        const store = new RedisViewStorage({ url: REDIS_URL, prefix, generationCacheMs: 0 });
        try {
          await run(log, { async: store }, ops, retention);
        } finally {
          await dropRedisKeys(store, prefix);
          await store.close();
          await log.close();
        }
      }),
      { numRuns: 60 },
    );
  }, 600_000);
});
