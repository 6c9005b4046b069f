/**
 * Model-based tests of the Store on real backends: random operation sequences (transactions, TTL
 * under a fake clock, deletes, metadata, namespaces, incr, update, sweeps) against the reference
 * model of test/support/store-model.ts. In every run: every read path equals the model, time
 * travel (by version and by the log's event times) equals the model's history, the views equal a
 * fresh fold of the log, and dropping and rebuilding every view gives identical views.
 * Runs share one log and Store per backend, each in its own namespaces.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dumpModel, emptyModel, foldKeyed, MemoryEventLog, MemoryViewStorage, SqliteEventLog, SqliteViewStorage, Store, viewReaders, type EventLog, type RecordedEvent, type ViewStorage } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { RedisViewStorage } from '../src/redis.js';
import { dumpViews, ofNamespaces } from './projections-views-support.js';
import { checkStore, opsArb, runOp, StoreModel } from './support/store-model.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const RUNS = Number(process.env.DGENT_STORE_MODEL_RUNS ?? 100);

interface Place {
  log: EventLog;
  /** undefined: the Store's default views */
  views: ViewStorage | undefined;
  close(): Promise<void>;
}

function modelSuite(name: string, make: () => Promise<Place>, runs = RUNS): void {
  describe(`Store model: ${name}`, () => {
    let place: Place;
    let store: Store;
    const clock = { t: Date.now(), now: () => clock.t };
    beforeAll(async () => {
      place = await make();
      store = new Store({ log: place.log, views: place.views, clock, sweepIntervalMs: 0 });
      await store.ready();
    });
    afterAll(async () => {
      await store?.close();
      await place?.close();
    });

    it(`${runs} random operation sequences: reads, time travel, fold of the log and rebuilt views all equal the model`, async () => {
      let run = 0;
      const readers = () => viewReaders(store.views);
      await fc.assert(
        fc.asyncProperty(opsArb, async (ops) => {
          const r = `r${run++}x${Math.random().toString(36).slice(2, 6)}`;
          const nss = [`${r}a`, `${r}b`];
          const keep = (n: string) => nss.includes(n);
          const m = new StoreModel(clock.t);
          for (const op of ops) await runOp(store, m, op, nss, clock);
          await checkStore(store, place.log, m, nss);
          const events: RecordedEvent[] = [];
          for await (const e of place.log.readAll()) events.push(e);
          const before = await dumpViews(readers(), keep);
          expect(before).toStrictEqual(dumpModel(foldKeyed(emptyModel(), ofNamespaces(events, keep))));
          await store.rebuildViews();
          expect(await dumpViews(readers(), keep)).toStrictEqual(before);
          await checkStore(store, place.log, m, nss);
        }),
        { numRuns: runs, endOnFailure: true, interruptAfterTimeLimit: 400_000 },
      );
    }, 600_000);

    it('purge of the key that created its namespace: the namespace and its creation time survive rebuildViews; a purge in a deleted namespace recreates it', async () => {
      const r = `p${Math.random().toString(36).slice(2, 8)}`;
      const [a, b] = [`${r}a`, `${r}b`];
      const keep = (n: string) => n === a || n === b;
      // listNamespaces first: it waits until the views (async ones too) hold the Store's own writes
      const namespaces = async () => (await store.listNamespaces(), (await viewReaders(store.views).kv.namespaces()).filter((n) => keep(n.namespace)));
      await store.set('first', 1, { namespace: a });
      await new Promise((res) => setTimeout(res, 5)); // distinct event times: a wrong creation time shows
      await store.set('second', 2, { namespace: a });
      await store.purge('first', { namespace: a });
      await store.set('x', 1, { namespace: b });
      await store.deleteNamespace(b, { recursive: true });
      await store.purge('x', { namespace: b });
      const live = await namespaces();
      expect(live.map((n) => n.namespace)).toEqual([a, b]);
      const events: RecordedEvent[] = [];
      for await (const e of place.log.readAll()) events.push(e);
      const first = events.find((e) => e.stream === `kv:${a}/first`)!;
      expect(first.type).toBe('dgent.erased');
      expect(live[0]!.createdAt).toBe(first.time.getTime());
      await store.rebuildViews();
      expect(await namespaces()).toEqual(live);
    });
  });
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

modelSuite('memory (inline views)', async () => {
  const log = new MemoryEventLog();
  return { log, views: new MemoryViewStorage(), close: () => log.close() };
});

modelSuite('SQLite (inline views in the log file)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-store-model-'));
  dirs.push(dir);
  const log = new SqliteEventLog({ path: join(dir, 'log.db') });
  return { log, views: new SqliteViewStorage({ path: log.path }), close: () => log.close() };
});

const pg = await requireService('PostgreSQL', postgresUrl());
const redis = await requireService('Redis', REDIS_URL);

describe.skipIf(!pg)('PostgreSQL', () => {
  const schemas: string[] = [];
  afterAll(() => dropSchemas(schemas));
  modelSuite('PostgreSQL (default views: inline in the log schema, on its pool)', async () => {
    const schema = uniqueSchema('dgstore');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    return { log, views: undefined, close: () => log.close() };
  });
  describe.skipIf(!redis)('Redis', () => {
    modelSuite('Redis views (async) over a PostgreSQL log', async () => {
      const schema = uniqueSchema('dgstorer');
      schemas.push(schema);
      const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
      const views = new RedisViewStorage({ url: REDIS_URL, prefix: uniqueName('dgstore') });
      return {
        log,
        views,
        close: async () => {
          await views.close();
          await log.close();
        },
      };
    });
  });
});
