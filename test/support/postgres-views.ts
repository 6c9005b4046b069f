/**
 * A PostgreSQL log with projections inline in its schema and the same projections async in
 * another schema: the set-up the view property tests share (keyed views, fused appends,
 * relations).
 */
import { afterAll, beforeAll } from 'vitest';
import { PostgresEventLog } from '../../src/streams/postgres/postgres-event-log.js';
import { PostgresViewStorage } from '../../src/projections/storage/postgres-view-storage.js';
import { ProjectionRunner } from '../../src/projections/runner/projection-runner.js';
import type { Projection } from '../../src/projections/projection.js';
import { postgresUrl, uniqueSchema } from './postgres.js';

/** The objects of {@link pgInlineAndAsyncViews}, set once its beforeAll has run. */
export interface PgViews {
  log: PostgresEventLog;
  /** views in the log's schema, inline */
  inlineStore: PostgresViewStorage;
  /** views in `<label>_async`, async (batches of at most 5, 1 ms) */
  asyncStore: PostgresViewStorage;
  inline: ProjectionRunner;
  async: ProjectionRunner;
}

/**
 * Call inside a `describe`: registers a beforeAll that opens the log and starts both runners
 * (`views()` is called once per runner) and an afterAll that closes them. The two schemas are
 * pushed to `schemas`, for the caller to drop.
 */
export function pgInlineAndAsyncViews(label: string, views: () => Projection[], schemas: string[]): PgViews {
  const schema = uniqueSchema(label);
  const asyncSchema = uniqueSchema(`${label}_async`);
  schemas.push(schema, asyncSchema);
  const env = {} as Partial<PgViews>;
  beforeAll(async () => {
    const log = (env.log = new PostgresEventLog({ connectionString: postgresUrl(), schema }));
    env.inlineStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    env.asyncStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema: asyncSchema, generationCacheMs: 0 });
    env.inline = new ProjectionRunner({ log, storage: env.inlineStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    env.async = new ProjectionRunner({ log, storage: env.asyncStore, batchSize: 5, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
    await env.inline.start();
    await env.async.start();
  });
  afterAll(async () => {
    await env.async?.close();
    await env.inline?.close();
    await Promise.all([env.inlineStore?.close(), env.asyncStore?.close()]);
    await env.log?.close();
  });
  return env as PgViews;
}
