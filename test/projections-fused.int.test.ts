/**
 * Fused inline appends on PostgreSQL (src/projections/storage/postgres-fused.ts): a lone `kv.set`
 * with the built-in views inline is written in the append's own statement. These tests hold it to
 * the usual path's results:
 * - for random keyed-event sequences, the inline views (fused for every lone set, the usual path for
 *   the rest) equal the reference model, views folded async in another schema, and rebuilt views;
 *   and every lone set was fused (counted);
 * - a rebuild switching generations while appends go on: the fused statement names the old tables,
 *   is refused (DG001 or a dropped table), and the append is redone the usual way; nothing lost;
 * - four log instances (four pools, as four processes) setting the same keys at once, with and
 *   without metadata: the kept metadata and creation times are those of the log order (the
 *   statement reads nothing from its snapshot, which is older than the stream lock it waits for).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import type { AppendOptions, NewEvent } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { PostgresViewStorage } from '../src/projections/storage/postgres-view-storage.js';
import { kvView } from '../src/projections/views/kv/projection.js';
import { versionsView } from '../src/projections/views/versions/projection.js';
import { auditView } from '../src/projections/views/audit/projection.js';
import { PostgresKvReader } from '../src/projections/views/kv/postgres.js';
import { PostgresVersionsReader } from '../src/projections/views/versions/postgres.js';
import { PostgresAuditReader } from '../src/projections/views/audit/postgres.js';
import { KEYED, keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { dumpModel, emptyModel, foldKeyed } from '../src/projections/model.js';
import { readAll, appendOps, DELETED_THEN_PURGED, dumpViews, namespacesOf, ofNamespaces, opsArb, PURGED_CREATOR, type ViewReaders } from './projections-views-support.js';
import { dropSchemas, postgresUrl } from './support/postgres.js';
import { pgInlineAndAsyncViews } from './support/postgres-views.js';
import { requireService } from './support/services.js';

const NAMES = ['kv', 'kv_versions', 'kv_audit'];
const views = () => [kvView({ indexes: ['n'] }), versionsView(), auditView()];
const readers = (s: PostgresViewStorage): ViewReaders => ({ kv: new PostgresKvReader(s), versions: new PostgresVersionsReader(s), audit: new PostgresAuditReader(s) });


const pgUp = await requireService('PostgreSQL', postgresUrl());
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

describe.skipIf(!pgUp)('fused inline appends (PostgreSQL)', () => {
  const pg = pgInlineAndAsyncViews('fused', views, schemas);
  beforeAll(async () => {
    // the first inline append takes the usual path and tells the fusion the active generations
    await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]);
  });

  it('inline views with every lone set fused equal the model, async views and rebuilt views (100 runs)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        const prefix = `f${++run}_`;
        const mine = new Set(namespacesOf(prefix));
        const keep = (ns: string) => mine.has(ns);
        const before = pg.inlineStore.fusionStats();
        // count the lone kv.set appends on their way to the log (a later purge erases them from it)
        let loneSets = 0;
        const counting = new Proxy(pg.log, {
          get(target, p) {
            if (p === 'append') {
              return (stream: string, events: readonly NewEvent[], o?: AppendOptions) => {
                if (events.length === 1 && events[0]!.type === KEYED.set) loneSets++;
                return target.append(stream, events, o);
              };
            }
            const v = Reflect.get(target, p, target) as unknown;
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
        await appendOps(counting, ops, prefix);
        const events = ofNamespaces(await readAll(pg.log), keep);
        // every lone kv.set went through the fused statement, and none was stale
        const after = pg.inlineStore.fusionStats();
        expect(after.fused - before.fused).toBe(loneSets);
        expect(after.stale).toBe(before.stale);
        const model = dumpModel(foldKeyed(emptyModel(), events));
        expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
        await pg.async.whenCaughtUp({ timeoutMs: 30_000 });
        expect(await dumpViews(readers(pg.asyncStore), keep)).toEqual(model);
        if (run % 10 === 1) {
          for (const name of NAMES) await pg.inline.rebuild(name);
          expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
          // the switch made this process forget the generations: one usual append learns the new ones
          await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]);
        }
      }),
      { numRuns: 100, examples: [[PURGED_CREATOR], [DELETED_THEN_PURGED]] },
    );
  }, 600_000);

  it('another process rebuilds the views under fused appends: the stale statement is refused and redone, nothing is lost', async () => {
    const ns = 'switch';
    // "another process": its own pool, log and storage objects on the same schema
    const otherLog = new PostgresEventLog({ connectionString: postgresUrl(), schema: pg.log.schema });
    const otherStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema: pg.log.schema, generationCacheMs: 0 });
    const other = new ProjectionRunner({ log: otherLog, storage: otherStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    try {
      await other.start();
      let i = 0;
      const set = () => pg.log.append(keyStream(ns, `k${i % 7}`), [keyedEvents.set({ value: { n: i }, ...(i++ % 3 === 0 ? { metadata: { i } } : {}) }, { actor: 'w' })]);
      let stop = false;
      const before = pg.inlineStore.fusionStats();
      const writing = (async () => {
        while (!stop) await set();
      })();
      while (i < 30) await new Promise((r) => setTimeout(r, 5));
      for (const name of NAMES) await other.rebuild(name);
      stop = true;
      await writing;
      // this process never saw the switch: its next fused statement names the old tables
      const mid = pg.inlineStore.fusionStats();
      for (let k = 0; k < 20; k++) await set();
      const after = pg.inlineStore.fusionStats();
      expect(after.stale).toBeGreaterThan(before.stale);
      expect(after.stale - mid.stale).toBeLessThanOrEqual(1); // one refusal, then the usual path learned the new generations
      expect(after.fused - mid.fused).toBeGreaterThanOrEqual(19);
      const keep = (n: string) => n === ns;
      const model = dumpModel(foldKeyed(emptyModel(), ofNamespaces(await readAll(pg.log), keep)));
      expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
    } finally {
      await other.close();
      await otherStore.close();
      await otherLog.close();
    }
  }, 120_000);

  it('four pools setting the same keys at once (with and without metadata): views equal the fold of the log order', async () => {
    const ns = 'race';
    const logs = Array.from({ length: 4 }, () => new PostgresEventLog({ connectionString: postgresUrl(), schema: pg.log.schema }));
    const runners = logs.map((l) => new ProjectionRunner({ log: l, storage: pg.inlineStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) }));
    let before = pg.inlineStore.fusionStats();
    try {
      for (const r of runners) await r.start();
      for (const l of logs) await l.append(keyStream('warm', 'up'), [keyedEvents.deleted()]); // learn the generations
      before = pg.inlineStore.fusionStats();
      await Promise.all(
        logs.map(async (l, w) => {
          for (let j = 0; j < 60; j++) {
            const withMeta = (j + w) % 4 === 0;
            await l.append(keyStream(ns, `k${j % 3}`), [keyedEvents.set({ value: { w, j }, ...(withMeta ? { metadata: { w, j } } : {}) }, { actor: `w${w}` })]);
          }
        }),
      );
      expect(pg.inlineStore.fusionStats().fused - before.fused).toBe(240);
      const keep = (n: string) => n === ns;
      const model = dumpModel(foldKeyed(emptyModel(), ofNamespaces(await readAll(pg.log), keep)));
      expect(model.kv.every((e) => e.metadata !== null)).toBe(true); // kept metadata is in play on every key
      expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
    } finally {
      for (const r of runners) await r.close();
      for (const l of logs) await l.close();
    }
    // the closed runners' fused appends still count: fusionStats() counts since the storage was made
    expect(pg.inlineStore.fusionStats().fused - before.fused).toBe(240);
  }, 120_000);
});

describe.skipIf(!pgUp)('fused statements are cached per shape (PostgreSQL)', () => {
  // versions retention in one namespace only: its sets cannot fuse (the usual path trims), the others do
  const pg = pgInlineAndAsyncViews('fused_shape', () => [kvView(), versionsView({ retention: { namespaces: { kept: { maxVersions: 2 } } } }), auditView()], schemas);

  it('a namespace with versions retention never takes the statement cached for one without (nor the other way)', async () => {
    await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]);
    const before = pg.inlineStore.fusionStats();
    for (let i = 1; i <= 5; i++) {
      await pg.log.append(keyStream('free', 'a'), [keyedEvents.set({ value: i })]);
      await pg.log.append(keyStream('kept', 'a'), [keyedEvents.set({ value: i })]);
    }
    expect(pg.inlineStore.fusionStats().fused - before.fused).toBe(5); // the 'free' sets only
    const versions = new PostgresVersionsReader(pg.inlineStore);
    expect((await versions.versions('kept', 'a')).map((v) => v.version)).toEqual([5, 4]);
    expect((await versions.versions('free', 'a')).map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
  });
});
