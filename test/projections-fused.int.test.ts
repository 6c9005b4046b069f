/**
 * Fused inline appends on PostgreSQL (src/projections/storage/postgres-fused.ts): a lone `kv.set`
 * with the built-in views inline is written in the append's own statement. These tests hold it to
 * the usual path's results:
 * - for random keyed-event sequences, the inline views (fused for every lone set and delete, and
 *   every patch or increment carrying its folded value; the usual path for the rest) equal the
 *   reference model, views folded async in another schema, and rebuilt views; every such append
 *   was fused (counted; the relations view's fused delete is held to its model by
 *   test/store-relations.int.test.ts);
 * - a rebuild switching generations while appends go on: the fused statement names the old tables,
 *   is refused (DG001 or a dropped table), and the append is redone the usual way; nothing lost;
 * - four log instances (four pools, as four processes) setting the same keys at once, with and
 *   without metadata: the kept metadata and creation times are those of the log order (the
 *   statement reads nothing from its snapshot, which is older than the stream lock it waits for);
 * - a lone event no view handles: one statement writing the control rows alone, which advance as on
 *   the usual path; refused as stale after another process switched generations; and refused, like
 *   every append, in a process still running an older version of a (user) projection;
 * - a delete whose statement began before a transaction holding the key's stream lock created the
 *   key's KV row and a relation naming it: both are deleted (the statement's own snapshot predates
 *   them; its deletes run in functions that take a snapshot after the wait).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { ConcurrencyError } from '../src/core/errors.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { PostgresViewStorage } from '../src/projections/storage/postgres-view-storage.js';
import { kvView } from '../src/projections/views/kv/projection.js';
import { versionsView } from '../src/projections/views/versions/projection.js';
import { auditView } from '../src/projections/views/audit/projection.js';
import { relationsView } from '../src/projections/views/relations/projection.js';
import { schemaNames } from '../src/streams/postgres/schema.js';
import pg_ from 'pg';
import { PostgresKvReader } from '../src/projections/views/kv/postgres.js';
import { PostgresVersionsReader } from '../src/projections/views/versions/postgres.js';
import { PostgresAuditReader } from '../src/projections/views/audit/postgres.js';
import { KEYED, keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { dumpModel, emptyModel, foldKeyed } from '../src/projections/model.js';
import { readAll, appendOps, DELETED_THEN_PURGED, type Op, dumpViews, namespacesOf, ofNamespaces, opsArb, PURGED_CREATOR, type ViewReaders } from './projections-views-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { countingProjection, foldLog, readCounting, summary } from './support/projection-counting.js';
import { asStoreAppends } from './support/store-appends.js';
import { pgInlineAndAsyncViews } from './support/postgres-views.js';
import { requireService } from './support/services.js';

const NAMES = ['kv', 'kv_versions', 'kv_audit'];
const views = () => [kvView({ indexes: ['n'] }), versionsView(), auditView()];
const readers = (s: PostgresViewStorage): ViewReaders => ({ kv: new PostgresKvReader(s), versions: new PostgresVersionsReader(s), audit: new PostgresAuditReader(s) });


const pgUp = await requireService('PostgreSQL', postgresUrl());
const schemas: string[] = [];
afterAll(() => dropSchemas(schemas));

/**
 * Lone patches and increments of live keys, run in every property run: the random sequences make
 * few (many of their sets expire at once, and a patch or increment of an absent key carries no
 * folded value), and once made none in 100 runs.
 */
const PATCHED_AND_INCREMENTED: Op[] = [
  { kind: 'set', ns: 0, key: 0, value: { n: 1, s: 'x', tags: [] }, n: 1, group: false, actor: 0 },
  { kind: 'patch', ns: 0, key: 0, value: 0, n: 2, group: false, actor: 1 },
  { kind: 'incr', ns: 0, key: 0, value: 0, n: 5, group: false, actor: 0 },
  { kind: 'set', ns: 0, key: 1, value: 7, n: 1, group: false, actor: 0 },
  { kind: 'incr', ns: 0, key: 1, value: 0, n: 4, group: false, actor: 2 },
];

describe.skipIf(!pgUp)('fused inline appends (PostgreSQL)', () => {
  const pg = pgInlineAndAsyncViews('fused', views, schemas);
  beforeAll(async () => {
    // the first inline append takes the usual path and tells the fusion the active generations
    await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]);
  });

  it('inline views with every lone set, delete, patch and increment fused equal the model, async views and rebuilt views (100 runs)', async () => {
    let run = 0;
    let hinted = 0;
    await fc.assert(
      fc.asyncProperty(opsArb, async (ops) => {
        const prefix = `f${++run}_`;
        const mine = new Set(namespacesOf(prefix));
        const keep = (ns: string) => mine.has(ns);
        const before = pg.inlineStore.fusionStats();
        // lone patches and increments with the value folded from the KV row read (as the Store appends
        // them); count the appends that can fuse
        const kv = new PostgresKvReader(pg.inlineStore);
        const counting = asStoreAppends(pg.log, (ns, key) => kv.get(ns, key));
        await appendOps(counting.log, ops, prefix);
        hinted += counting.hinted();
        const events = ofNamespaces(await readAll(pg.log), keep);
        // every one of them went through the fused statement, and none was stale
        const after = pg.inlineStore.fusionStats();
        expect(after.fused - before.fused).toBe(counting.fusable());
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
      { numRuns: 100, examples: [[PURGED_CREATOR], [DELETED_THEN_PURGED], [PATCHED_AND_INCREMENTED]] },
    );
    expect(hinted).toBeGreaterThan(0);
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

describe.skipIf(!pgUp)('fused deletes racing sets (PostgreSQL)', () => {
  const pg = pgInlineAndAsyncViews('fused_race_del', views, schemas);

  it('four pools setting and deleting the same keys at once, at known and at any revisions: all fused, views equal the fold of the log order', async () => {
    const ns = 'race_del';
    const logs = Array.from({ length: 4 }, () => new PostgresEventLog({ connectionString: postgresUrl(), schema: pg.log.schema }));
    const runners = logs.map((l) => new ProjectionRunner({ log: l, storage: pg.inlineStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) }));
    try {
      for (const r of runners) await r.start();
      for (const l of logs) await l.append(keyStream('warm', 'up'), [keyedEvents.deleted()]); // learn the generations
      const before = pg.inlineStore.fusionStats();
      let attempts = 0;
      await Promise.all(
        logs.map(async (l, w) => {
          for (let j = 0; j < 60; j++) {
            const stream = keyStream(ns, `k${j % 2}`);
            const kind = (j + w) % 3;
            if (kind === 0) {
              attempts++;
              await l.append(stream, [keyedEvents.set({ value: { w, j }, ...(j % 4 === 0 ? { metadata: { w } } : {}) }, { actor: `w${w}` })]);
            } else if (kind === 1) {
              // at the revision read (as Store.delete): a set in between makes it conflict, nothing stored
              attempts++;
              try {
                await l.append(stream, [keyedEvents.deleted({ actor: `w${w}` })], { expectedRevision: await l.revision(stream) });
              } catch (e) {
                if (!(e instanceof ConcurrencyError)) throw e;
              }
            } else {
              // at any revision: it waits for a racing set's stream lock, and must delete the row that
              // set created after the statement began (its DELETE runs in a function with a snapshot of its own)
              attempts++;
              await l.append(stream, [keyedEvents.deleted({ actor: `w${w}` })]);
            }
          }
        }),
      );
      const after = pg.inlineStore.fusionStats();
      expect(after.fused - before.fused).toBe(attempts);
      expect(after.stale).toBe(before.stale);
      const keep = (n: string) => n === ns;
      const model = dumpModel(foldKeyed(emptyModel(), ofNamespaces(await readAll(pg.log), keep)));
      expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
      await pg.async.whenCaughtUp({ timeoutMs: 30_000 });
      expect(await dumpViews(readers(pg.asyncStore), keep)).toEqual(model);
    } finally {
      for (const r of runners) await r.close();
      for (const l of logs) await l.close();
    }
  }, 120_000);
});

describe.skipIf(!pgUp)('fused delete and rows committed while it waits (PostgreSQL)', () => {
  const pg = pgInlineAndAsyncViews('fused_wait', () => [kvView(), versionsView(), auditView(), relationsView()], schemas);

  it('a KV row and a relation that a transaction holding the key created while the delete waited are deleted with it', async () => {
    const schema = pg.log.schema;
    await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]); // learn the generations
    await pg.log.append(keyStream('n', 'x'), [keyedEvents.set({ value: 1 })]);
    const admin = new pg_.Client({ connectionString: postgresUrl() });
    await admin.connect();
    const table = async (like: string) => `"${schema}"."${(await admin.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2`, [schema, like])).rows[0].tablename}"`;
    const kv = await table('dgent\\_p\\_kv\\_\\_g%\\_kv');
    const rel = await table('dgent\\_p\\_kv\\_relations\\_\\_g%\\_rel');
    const hist = await table('dgent\\_p\\_kv\\_relations\\_\\_g%\\_hist');
    const holder = new pg_.Client({ connectionString: postgresUrl() });
    await holder.connect();
    try {
      const before = pg.inlineStore.fusionStats();
      // a transaction holding key k's stream lock (as a racing writer of k does) creates k's row and a relation naming k
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [schemaNames(schema).streamLockKey, keyStream('n', 'k')]);
      await holder.query(`INSERT INTO ${kv} (namespace, key, value, value_jsonb, version, metadata, created_at, updated_at, expires_at, position) VALUES ('n', 'k', '7', '7', 9, NULL, 0, 0, NULL, 0)`);
      await holder.query(`INSERT INTO ${rel} (sns, skey, predicate, ons, okey, version, created_at, actor, position) VALUES ('n', 'x', 'p', 'n', 'k', 1, 0, NULL, 0)`);
      // the delete's statement begins (its snapshot has neither row) and waits for the lock
      const deleting = pg.log.append(keyStream('n', 'k'), [keyedEvents.deleted()]);
      for (let i = 0; ; i++) {
        const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE '%append_event%'`);
        if (rows[0].n > 0) break;
        if (i > 2000) throw new Error('the delete never waited for the stream lock');
        await new Promise((r) => setTimeout(r, 5));
      }
      await holder.query('COMMIT');
      const { position } = await deleting;
      expect(pg.inlineStore.fusionStats()).toEqual({ fused: before.fused + 1, stale: before.stale });
      expect((await admin.query(`SELECT count(*)::int AS n FROM ${kv} WHERE namespace = 'n' AND key = 'k'`)).rows[0].n).toBe(0);
      expect((await admin.query(`SELECT count(*)::int AS n FROM ${rel} WHERE okey = 'k'`)).rows[0].n).toBe(0);
      expect((await admin.query(`SELECT position::int AS p, related FROM ${hist} WHERE okey = 'k'`)).rows).toEqual([{ p: position, related: false }]);
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
      await admin.end();
    }
  }, 60_000);
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

describe.skipIf(!pgUp)('fused control rows for an event no view handles (PostgreSQL)', () => {
  const pg = pgInlineAndAsyncViews('fused_other', views, schemas);
  const expectControlAt = async (position: number) => {
    for (const name of NAMES) expect(await pg.inlineStore.control(name)).toMatchObject({ position, seen: position });
  };

  it('a lone event the views do not handle is one statement with the control rows, which advance as on the usual path', async () => {
    await pg.log.append(keyStream('warm', 'up'), [keyedEvents.deleted()]); // the usual path: learns the generations
    const before = pg.inlineStore.fusionStats();
    let fusable = 0;
    for (let i = 0; i < 12; i++) {
      const r = await pg.log.append(`agent-${i % 3}`, [{ type: 'agent.saved', data: { i } }]);
      fusable++;
      await expectControlAt(r.position);
      if (i % 4 === 0) {
        const s = await pg.log.append(keyStream('other', `k${i}`), [keyedEvents.set({ value: i })]);
        fusable++;
        await expectControlAt(s.position);
      }
      if (i % 5 === 0) {
        // two events: the usual path
        const two = await pg.log.append('agent-x', [{ type: 'a', data: 1 }, { type: 'b', data: 2 }]);
        await expectControlAt(two.position);
      }
    }
    const after = pg.inlineStore.fusionStats();
    expect(after.fused - before.fused).toBe(fusable);
    expect(after.stale).toBe(before.stale);
    const keep = (n: string) => n === 'other';
    const model = dumpModel(foldKeyed(emptyModel(), ofNamespaces(await readAll(pg.log), keep)));
    expect(await dumpViews(readers(pg.inlineStore), keep)).toEqual(model);
    expect((await pg.inline.status()).every((s) => s.state === 'running' && s.lastError === undefined)).toBe(true);
  });

  it('after another process switched generations, such an event is refused as stale and redone the usual way', async () => {
    const otherLog = new PostgresEventLog({ connectionString: postgresUrl(), schema: pg.log.schema });
    const otherStore = new PostgresViewStorage({ connectionString: postgresUrl(), schema: pg.log.schema, generationCacheMs: 0 });
    const other = new ProjectionRunner({ log: otherLog, storage: otherStore, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    try {
      await other.start();
      await pg.log.append('agent-0', [{ type: 'agent.saved', data: 0 }]);
      for (const name of NAMES) await other.rebuild(name);
      const before = pg.inlineStore.fusionStats();
      const r = await pg.log.append('agent-0', [{ type: 'agent.saved', data: 1 }]);
      const mid = pg.inlineStore.fusionStats();
      // the statement named the generations this process knew: refused (nothing stored), then redone
      expect(mid.stale - before.stale).toBe(1);
      expect(mid.fused).toBe(before.fused);
      await expectControlAt(r.position);
      expect(await pg.log.revision('agent-0')).toBe(r.revision);
      const again = await pg.log.append('agent-0', [{ type: 'agent.saved', data: 2 }]);
      expect(pg.inlineStore.fusionStats()).toEqual({ fused: mid.fused + 1, stale: mid.stale });
      await expectControlAt(again.position);
    } finally {
      await other.close();
      await otherStore.close();
      await otherLog.close();
    }
  });
});

describe.skipIf(!pgUp)('fused control rows of a user projection (PostgreSQL)', () => {
  it('a process still running an older version has every append refused, fused or not', async () => {
    const schema = uniqueSchema('fused_mixed');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const storage = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    const v1 = new ProjectionRunner({ log, storage, projections: [{ projection: countingProjection({ name: 'c', version: 1 }), mode: 'inline' }] });
    const log2 = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const storage2 = new PostgresViewStorage({ connectionString: postgresUrl(), schema, generationCacheMs: 0 });
    const v2 = new ProjectionRunner({ log: log2, storage: storage2, projections: [{ projection: countingProjection({ name: 'c', version: 2 }), mode: 'inline' }] });
    try {
      await v1.start();
      await log.append('a', [{ type: 'Added', data: { n: 1 } }]); // the usual path: learns the generation
      await log.append('other', [{ type: 'Unrelated', data: 1 }]); // fused: the control row alone
      expect(storage.fusionStats().fused).toBe(1);
      await v2.start();
      await v2.whenCaughtUp();
      await expect(log.append('other', [{ type: 'Unrelated', data: 2 }])).rejects.toThrow(/runs version 1 but its view is at version 2/);
      await expect(log.append('a', [{ type: 'Added', data: { n: 2 } }])).rejects.toThrow(/runs version 1 but its view is at version 2/);
      expect(await log.revision('other')).toBe(1);
      expect(storage.fusionStats()).toMatchObject({ fused: 1, stale: 1 });
      await log2.append('other', [{ type: 'Unrelated', data: 3 }]); // the new process: the usual path, then fused
      await log2.append('a', [{ type: 'Added', data: { n: 3 } }]);
      await log2.append('other', [{ type: 'Unrelated', data: 4 }]);
      expect(storage2.fusionStats().fused).toBe(1);
      expect(summary(await readCounting(storage2, 'c'))).toEqual({ ...(await foldLog(log2)), duplicates: [] });
      expect((await foldLog(log2)).sum).toBe(4);
    } finally {
      await v1.close();
      await v2.close();
      await Promise.all([storage.close(), storage2.close()]);
      await Promise.all([log.close(), log2.close()]);
    }
  });
});
