/**
 * The KV, versions and audit views on memory and SQLite: for random keyed-event sequences, the
 * inline views, the async views and the rebuilt views all equal the reference model's fold. Purges
 * erase the key's earlier events (as the Store's do): the inline views saw the values, rebuilds
 * and async views behind read `dgent.erased` events, and all must still agree.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { MemoryViewStorage } from '../src/projections/storage/memory-view-storage.js';
import { SqliteViewStorage } from '../src/projections/storage/sqlite-view-storage.js';
import type { ViewStorage } from '../src/projections/view-storage.js';
import { kvView } from '../src/projections/views/kv/projection.js';
import { versionsView } from '../src/projections/views/versions/projection.js';
import { auditView } from '../src/projections/views/audit/projection.js';
import { MemoryKvReader } from '../src/projections/views/kv/memory.js';
import { MemoryVersionsReader } from '../src/projections/views/versions/memory.js';
import { MemoryAuditReader } from '../src/projections/views/audit/memory.js';
import { SqliteKvReader } from '../src/projections/views/kv/sqlite.js';
import { SqliteVersionsReader } from '../src/projections/views/versions/sqlite.js';
import { SqliteAuditReader } from '../src/projections/views/audit/sqlite.js';
import { dumpModel, emptyModel, foldKeyed } from '../src/projections/model.js';
import { keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { readAll, appendOps, DELETED_THEN_PURGED, dumpViews, KEPT_THEN_DROPPED, opsArb, PURGED_CREATOR, RETENTION, type ViewReaders } from './projections-views-support.js';
import { checkReaders, readersArb } from './projections-views-readers.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-views-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const NAMES = ['kv', 'kv_versions', 'kv_audit'];
const views = () => [kvView({ indexes: ['n'] }), versionsView({ retention: RETENTION.versions }), auditView({ retention: RETENTION.audit })];

interface Backend {
  name: string;
  log(): EventLog & MultiStreamAppender;
  /** storage for inline views (on the log's backend) and for async views */
  storages(log: EventLog): [ViewStorage, ViewStorage];
  readers(s: ViewStorage): ViewReaders;
}

const backends: Backend[] = [
  {
    name: 'memory',
    log: () => new MemoryEventLog(),
    storages: () => [new MemoryViewStorage(), new MemoryViewStorage()],
    readers: (s) => ({ kv: new MemoryKvReader(s as MemoryViewStorage), versions: new MemoryVersionsReader(s as MemoryViewStorage), audit: new MemoryAuditReader(s as MemoryViewStorage) }),
  },
  {
    name: 'SQLite',
    log: () => new SqliteEventLog({ path: join(dir, `log${++files}.db`) }),
    storages: (log) => [new SqliteViewStorage({ path: (log as SqliteEventLog).path }), new SqliteViewStorage({ path: join(dir, `async${files}.db`) })],
    readers: (s) => ({ kv: new SqliteKvReader(s as SqliteViewStorage), versions: new SqliteVersionsReader(s as SqliteViewStorage), audit: new SqliteAuditReader(s as SqliteViewStorage) }),
  },
];


describe.each(backends)('built-in views on $name', (b) => {
  it('inline, async and rebuilt views equal the reference model for random keyed-event sequences (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb, fc.integer({ min: 1, max: 7 }), async (ops, batchSize) => {
        const log = b.log();
        const [inlineStore, asyncStore] = b.storages(log);
        // batchSize also pages the rebuilds below: several pages, shared by the three rebuilds running together
        const inline = new ProjectionRunner({ log, storage: inlineStore, batchSize, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
        const async = new ProjectionRunner({ log, storage: asyncStore, batchSize, batchMs: 1, projections: views().map((projection) => ({ projection, mode: 'async' as const })) });
        try {
          await inline.start();
          await async.start();
          await appendOps(log, ops);
          const model = dumpModel(foldKeyed(emptyModel(), await readAll(log), RETENTION));
          expect(await dumpViews(b.readers(inlineStore))).toEqual(model);
          await async.whenCaughtUp({ timeoutMs: 20_000 });
          expect(await dumpViews(b.readers(asyncStore))).toEqual(model);
          await Promise.all(NAMES.map((name) => inline.rebuild(name)));
          expect(await dumpViews(b.readers(inlineStore))).toEqual(model);
        } finally {
          await async.close();
          await inline.close();
          await Promise.all([inlineStore.close(), asyncStore.close()]);
          await log.close();
        }
      }),
      { numRuns: 100, examples: [[KEPT_THEN_DROPPED, 3], [PURGED_CREATOR, 1], [PURGED_CREATOR, 7], [DELETED_THEN_PURGED, 2]] },
    );
  }, 600_000);
});

describe.each(backends)('view readers on $name', (b) => {
  it('query, count, list pages, getMany, expired, versions, time travel and audit filters answer as the model (40 runs)', async () => {
    const log = b.log();
    const [store] = b.storages(log);
    const runner = new ProjectionRunner({ log, storage: store, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    await runner.start();
    let run = 0;
    try {
      await fc.assert(fc.asyncProperty(readersArb, (input) => checkReaders(log, b.readers(store), async () => {}, `q${++run}`, input)), { numRuns: 40 });
    } finally {
      await runner.close();
      await store.close();
      await log.close();
    }
  }, 300_000);
});

describe('query pushdown on SQLite', () => {
  it('a filter on a path named in `indexes` is answered through its expression index', async () => {
    const path = join(dir, `index${++files}.db`);
    const log = new SqliteEventLog({ path });
    const store = new SqliteViewStorage({ path });
    const runner = new ProjectionRunner({ log, storage: store, projections: views().map((projection) => ({ projection, mode: 'inline' as const })) });
    try {
      await runner.start();
      const reader = new SqliteKvReader(store);
      expect((await reader.explain('default', { path: 'n', op: 'eq', value: 3 })).join('\n')).toMatch(/USING INDEX \S*kv_ix0 \(namespace=\? AND <expr>=\?\)/);
      expect((await reader.explain('default', { path: 's', op: 'eq', value: 'a' })).join('\n')).not.toMatch(/<expr>/);
    } finally {
      await runner.close();
      await store.close();
      await log.close();
    }
  });
});

describe('SQLite versions view: the no-metadata mark of rebuilds', () => {
  it('a restarted async runner (setup again on a generation holding metadata) still keeps metadata for a set without any', async () => {
    const logPath = join(dir, `mark-log${++files}.db`);
    const log = new SqliteEventLog({ path: logPath });
    const store = new SqliteViewStorage({ path: join(dir, `mark-views${files}.db`) });
    const start = async () => {
      const runner = new ProjectionRunner({ log, storage: store, projections: [{ projection: versionsView(), mode: 'async' as const }] });
      await runner.start();
      return runner;
    };
    const reader = new SqliteVersionsReader(store);
    try {
      let runner = await start();
      await log.append(keyStream('default', 'a'), [keyedEvents.set({ value: 1, metadata: { tag: 'x' } })]);
      await log.append(keyStream('default', 'b'), [keyedEvents.set({ value: 2 })]);
      await runner.whenCaughtUp();
      await runner.close();
      runner = await start(); // sets the generation up again: its table has rows, one with metadata
      await log.append(keyStream('default', 'a'), [keyedEvents.set({ value: 3 })]);
      await runner.whenCaughtUp();
      await runner.close();
      const [newest] = await reader.versions('default', 'a', { limit: 1 });
      expect(newest).toMatchObject({ version: 2, value: 3, metadata: { tag: 'x' } });
      expect((await reader.versions('default', 'b'))[0]!.metadata).toBeNull();
    } finally {
      await store.close();
      await log.close();
    }
  });

  for (const mode of ['inline', 'async', 'rebuilt'] as const) {
    it(`${mode}: an event naming the mark's namespace (a raw append) cannot bring the mark back; a set without metadata keeps the key's`, async () => {
      const path = join(dir, `forged${++files}.db`);
      const log = new SqliteEventLog({ path });
      const store = new SqliteViewStorage({ path: mode === 'async' ? join(dir, `forged-views${files}.db`) : path });
      // batches of one event: the drop and the sets each commit alone
      const runner = new ProjectionRunner({ log, storage: store, batchSize: 1, projections: [{ projection: versionsView(), mode: mode === 'async' ? 'async' : 'inline' }] });
      const reader = new SqliteVersionsReader(store);
      try {
        await runner.start();
        await log.append(keyStream('default', 'a'), [keyedEvents.set({ value: 1, metadata: { tag: 'x' } })]);
        // the log takes this stream: the fold must not trust namespaces to be valid
        await log.append('kv:*no-metadata', [keyedEvents.namespaceDeleted()]);
        await log.append(keyStream('default', 'a'), [keyedEvents.set({ value: 2 })]);
        await log.append(keyStream('default', 'b'), [keyedEvents.set({ value: 3 })]);
        await runner.whenCaughtUp();
        if (mode === 'rebuilt') await runner.rebuild('kv_versions');
        const [newest] = await reader.versions('default', 'a', { limit: 1 });
        expect(newest).toMatchObject({ version: 2, value: 2, metadata: { tag: 'x' } });
        expect((await reader.versions('default', 'b'))[0]!.metadata).toBeNull();
      } finally {
        await runner.close();
        await store.close();
        await log.close();
      }
    });
  }
});
