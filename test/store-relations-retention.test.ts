/**
 * Retention of the relation history on memory and SQLite (inline, async and rebuilt views) against
 * the model (store-relations-retention-support.ts), and through a Store (viewOptions.relations).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog, MultiStreamAppender } from '../src/streams/event-log.js';
import { ProjectionRunner } from '../src/projections/runner/projection-runner.js';
import { MemoryViewStorage } from '../src/projections/storage/memory-view-storage.js';
import { SqliteViewStorage } from '../src/projections/storage/sqlite-view-storage.js';
import type { ViewStorage } from '../src/projections/view-storage.js';
import { relationsReader, relationsView } from '../src/projections/views/relations/projection.js';
import { Store } from '../src/store/store.js';
import { appendRelOps, dumpRelations, readAll } from './store-relations-support.js';
import { pause, retainedModel, retentionArb, retentionOpsArb } from './store-relations-retention-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-relations-ret-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const backends: { name: string; log(): EventLog & MultiStreamAppender; storages(log: EventLog): [ViewStorage, ViewStorage] }[] = [
  { name: 'memory', log: () => new MemoryEventLog(), storages: () => [new MemoryViewStorage(), new MemoryViewStorage()] },
  {
    name: 'SQLite',
    log: () => new SqliteEventLog({ path: join(dir, `log${++files}.db`) }),
    storages: (log) => [new SqliteViewStorage({ path: (log as SqliteEventLog).path }), new SqliteViewStorage({ path: join(dir, `async${files}.db`) })],
  },
];

describe.each(backends)('relation history retention on $name', (b) => {
  it('inline, async and rebuilt relations views keep the history the model keeps: newest maxChanges per relation, none older than maxAgeMs but the newest, per subject namespace (100 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(retentionOpsArb, retentionArb, fc.integer({ min: 1, max: 7 }), async (ops, retention, batchSize) => {
        const log = b.log();
        const [inlineStore, asyncStore] = b.storages(log);
        const view = () => relationsView({ retention });
        const inline = new ProjectionRunner({ log, storage: inlineStore, batchSize, projections: [{ projection: view(), mode: 'inline' as const }] });
        const async = new ProjectionRunner({ log, storage: asyncStore, batchSize, batchMs: 1, projections: [{ projection: view(), mode: 'async' as const }] });
        try {
          await inline.start();
          await async.start();
          for (let i = 0; i < ops.length; i += 4) {
            await appendRelOps(log, ops.slice(i, i + 4));
            await pause(2);
          }
          const model = retainedModel(await readAll(log), retention);
          expect(await dumpRelations(relationsReader(inlineStore))).toEqual(model);
          await async.whenCaughtUp({ timeoutMs: 20_000 });
          expect(await dumpRelations(relationsReader(asyncStore))).toEqual(model);
          await inline.rebuild('kv_relations');
          expect(await dumpRelations(relationsReader(inlineStore))).toEqual(model);
        } finally {
          await async.close();
          await inline.close();
          await Promise.all([inlineStore.close(), asyncStore.close()]);
          await log.close();
        }
      }),
      { numRuns: 100 },
    );
  }, 600_000);

  it('a Store with viewOptions.relations.retention: relationHistory keeps the newest changes; the live relation stays; bad retention is ValidationError', async () => {
    const log = b.log();
    const store = new Store({ log, sweepIntervalMs: 0, viewOptions: { relations: { retention: { maxChanges: 2, namespaces: { keep: {} } } } } });
    try {
      for (const ns of ['default', 'keep']) {
        await store.set('a', 1, { namespace: ns });
        await store.set('b', 1, { namespace: ns });
        for (let i = 0; i < 3; i++) {
          await store.relate('a', 'p', 'b', { namespace: ns });
          await store.unrelate('a', 'p', 'b', { namespace: ns });
        }
        await store.relate('a', 'p', 'b', { namespace: ns });
      }
      expect((await store.relationHistory('a', 'p', 'b')).map((c) => [c.operation, c.version])).toEqual([['relate', 7], ['unrelate', 6]]);
      expect(await store.relationHistory('a', 'p', 'b', { namespace: 'keep' })).toHaveLength(7); // the override keeps everything
      expect((await store.related('a')).map((r) => r.object.key)).toEqual(['b']);
    } finally {
      await store.close();
      await log.close();
    }
    for (const bad of [{ maxChanges: 0 }, { maxChanges: 1.5 }, { maxAgeMs: -1 }, { maxAgeMs: Number.POSITIVE_INFINITY }, { namespaces: { x: { maxChanges: 0 } } }]) {
      expect(() => relationsView({ retention: bad })).toThrow(ValidationError);
    }
  });
});
