/**
 * Store.update and Store.incr on PostgreSQL with the views inline: each is one statement (the
 * append and the views' writes), carrying the key's value folded from the row the Store read; the
 * statement writes it only while the row is still at that version, else the append is redone the
 * usual way (src/projections/storage/postgres-fused.ts, FoldHint). Held to the fold of the log:
 * - the stored value is the fold's, key order included (a key deleted and set again keeps its place
 *   in the fold, not in the recipe's result), and incr answers without reading back;
 * - a hint naming a version the row no longer has is refused (DG002), and the event is folded the
 *   usual way;
 * - two Stores (two pools, as two processes) incrementing one counter at once: the total is exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { PostgresViewStorage } from '../src/projections/storage/postgres-view-storage.js';
import { hintFold } from '../src/projections/storage/postgres-fused.js';
import { keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { dumpModel, emptyModel, foldKeyed } from '../src/projections/model.js';
import { Store } from '../src/store/store.js';
import { dumpViews, readAll, type ViewReaders } from './projections-views-support.js';
import { PostgresKvReader } from '../src/projections/views/kv/postgres.js';
import { PostgresVersionsReader } from '../src/projections/views/versions/postgres.js';
import { PostgresAuditReader } from '../src/projections/views/audit/postgres.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const readers = (s: PostgresViewStorage): ViewReaders => ({ kv: new PostgresKvReader(s), versions: new PostgresVersionsReader(s), audit: new PostgresAuditReader(s) });

const pgUp = await requireService('PostgreSQL', postgresUrl());
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe.skipIf(!pgUp)('Store.update and Store.incr fused (PostgreSQL)', () => {
  const schema = uniqueSchema('store_fused');
  schemas.push(schema);
  let log: PostgresEventLog;
  let storage: PostgresViewStorage;
  let store: Store;
  beforeAll(async () => {
    log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    storage = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    store = new Store({ log, views: storage, sweepIntervalMs: 0 });
    await store.set('warm', 1); // the first inline append learns the generations
  });
  afterAll(async () => {
    await store?.close();
    await storage?.close();
    await log?.close();
  });

  const model = async () => dumpModel(foldKeyed(emptyModel(), await readAll(log)));

  it('each is one statement writing the fold of the log (key order included); incr answers without reading back', async () => {
    await store.set('doc', { a: 1, b: { c: 2 }, n: 0 }, { metadata: { owner: 'ann' }, ttlMs: 3_600_000 });
    await store.set('n', 5);
    const before = storage.fusionStats();
    await store.update<{ a: number; b: { c: number }; n: number }>('doc', (d) => {
      delete (d as { a?: number }).a;
      d!.a = 3; // deleted and set again: the fold keeps `a` first
      d!.b.c++;
    });
    expect(await store.incr('n', 2)).toBe(7);
    expect(await store.incr('doc', 5, { field: 'n' })).toBe(5);
    expect(await store.incr('doc', 1, { field: 'b.c' })).toBe(4);
    const after = storage.fusionStats();
    expect(after).toEqual({ fused: before.fused + 4, stale: before.stale });
    // the views equal the fold of the log, values compared as stored text (key order included)
    expect(await dumpViews(readers(storage))).toEqual(await model());
    expect(JSON.stringify(await store.get('doc'))).toBe('{"a":3,"b":{"c":4},"n":5}');
    expect(await store.getMetadata('doc')).toEqual({ owner: 'ann' }); // kept by the patch and the increments
  });

  it('a hint naming a version the row no longer has is refused, and the event is folded the usual way', async () => {
    await store.set('m', 10);
    const before = storage.fusionStats();
    const event = keyedEvents.incremented(1, undefined, { actor: 'test' });
    const hint = hintFold(event, 1_000, () => 999); // not the row's version (nor its fold)
    await log.append(keyStream('default', 'm'), [event]);
    expect(storage.fusionStats()).toEqual({ fused: before.fused, stale: before.stale + 1 });
    expect(hint.committed).toBe(false);
    expect(await store.get('m')).toBe(11);
    expect(await store.incr('m', 1)).toBe(12); // and the next one fuses again
    expect(storage.fusionStats()).toEqual({ fused: before.fused + 1, stale: before.stale + 1 });
  });

  it('two Stores incrementing one counter at once: the total is exact', async () => {
    const other = { log: new PostgresEventLog({ connectionString: postgresUrl(), schema }), storage: new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 }) };
    const second = new Store({ log: other.log, views: other.storage, sweepIntervalMs: 0 });
    try {
      await second.set('warm', 2);
      const answers: number[] = [];
      await Promise.all([store, second].map(async (s) => {
        for (let i = 0; i < 50; i++) answers.push(await s.incr('total', 1));
      }));
      expect(await store.get('total')).toBe(100);
      expect([...answers].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1)); // each answer is its own increment's
      expect(await dumpViews(readers(storage))).toEqual(await model());
      expect((await store.versions('total')).length).toBe(100);
    } finally {
      await second.close();
      await other.storage.close();
      await other.log.close();
    }
  });
});
