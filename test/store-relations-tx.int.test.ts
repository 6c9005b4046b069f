/**
 * Relationships in transactions and subscriptions on a PostgreSQL log: with its own inline views,
 * and with Redis views (async). The same properties as store-relations-tx.test.ts (memory, SQLite).
 */
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { dropRedisKeys } from './fixtures/redis-keys.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { RedisViewStorage } from '../src/projections/storage/redis-view-storage.js';
import { Store } from '../src/store/store.js';
import { checkSubscriptions, checkTransactions, TX_EXAMPLES, txsArb } from './store-relations-tx-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const pgUp = await requireService('PostgreSQL', postgresUrl());
const redisUp = await requireService('Redis', REDIS_URL);
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

type Setup = { name: string; skip: boolean; redis: boolean };
const setups: Setup[] = [
  { name: 'PostgreSQL (inline views)', skip: !pgUp, redis: false },
  { name: 'PostgreSQL log, Redis views (async)', skip: !pgUp || !redisUp, redis: true },
];

async function withStore(s: Setup, fn: (store: Store) => Promise<void>): Promise<void> {
  const schema = uniqueSchema('reltx');
  schemas.push(schema);
  const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
  const prefix = uniqueName('reltx');
  const views = s.redis ? new RedisViewStorage({ url: REDIS_URL, prefix }) : undefined;
  const store = new Store({ log, views, sweepIntervalMs: 0 });
  try {
    await fn(store);
  } finally {
    await store.close();
    if (views) {
      await dropRedisKeys(views, prefix);
      await views.close();
    }
    await log.close();
  }
}

describe.each(setups)('relationships in transactions and subscriptions on $name', (s) => {
  it.skipIf(s.skip)('random transactions answer as the model inside and leave the views equal to it after each commit (30 runs, one schema each)', async () => {
    await fc.assert(fc.asyncProperty(txsArb, (txs) => withStore(s, (store) => checkTransactions(store, txs))), { numRuns: 30, examples: TX_EXAMPLES });
  }, 600_000);

  it.skipIf(s.skip)('subscribe hears relate and unrelate with their relation (another process would hear them the same way: from the log)', async () => {
    await withStore(s, (store) => checkSubscriptions(store));
  }, 60_000);
});
