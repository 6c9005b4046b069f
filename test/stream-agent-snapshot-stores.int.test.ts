/**
 * Every SnapshotStore StreamAgent can use — memory, SQLite, PostgreSQL (PostgresSnapshotStore) and
 * Redis (RedisSnapshotStore) — against one model (fast-check over put/get/list/delete, several
 * streams and fold versions, replaced puts), and a StreamAgent on a log of the same backend with
 * its snapshots there: load, loadAt and rebuildSnapshots equal the fold without snapshots, and a
 * fresh agent over a re-opened store starts from the stored snapshots.
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEventLog, MemorySnapshotStore, SqliteEventLog, SqliteSnapshotStore, StreamAgent, type EventLog, type SnapshotRecord, type SnapshotStore } from '../src/index.js';
import { PostgresEventLog, PostgresSnapshotStore } from '../src/postgres.js';
import { RedisEventLog, RedisSnapshotStore } from '../src/redis.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const pg = await requireService('PostgreSQL', postgresUrl());
const redis = await requireService('Redis', REDIS_URL);
const dir = mkdtempSync(join(tmpdir(), 'dgent-snapstores-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

interface Kind {
  name: string;
  up: boolean;
  /** a store, and how to open it again on the same data */
  open(): { store: SnapshotStore; reopen(): SnapshotStore; log(): EventLog };
}
let n = 0;
const kinds: Kind[] = [
  { name: 'MemorySnapshotStore', up: true, open: () => { const store = new MemorySnapshotStore(); return { store, reopen: () => store, log: () => new MemoryEventLog() }; } },
  {
    name: 'SqliteSnapshotStore',
    up: true,
    open: () => {
      const path = join(dir, `s${n++}.db`);
      return { store: new SqliteSnapshotStore({ path }), reopen: () => new SqliteSnapshotStore({ path }), log: () => new SqliteEventLog({ path: join(dir, `log${n++}.db`) }) };
    },
  },
  {
    name: 'PostgresSnapshotStore',
    up: pg,
    open: () => {
      const schema = uniqueSchema('dgsnap');
      schemas.push(schema);
      const o = { connectionString: postgresUrl(), schema };
      return { store: new PostgresSnapshotStore(o), reopen: () => new PostgresSnapshotStore(o), log: () => new PostgresEventLog(o) };
    },
  },
  {
    name: 'RedisSnapshotStore',
    up: redis,
    open: () => {
      const prefix = uniqueName('dgsnap');
      return { store: new RedisSnapshotStore({ url: REDIS_URL, prefix }), reopen: () => new RedisSnapshotStore({ url: REDIS_URL, prefix }), log: () => new RedisEventLog({ url: REDIS_URL, prefix }) };
    },
  },
];

type Op = { kind: 'put'; stream: number; version: number; revision: number; state: string } | { kind: 'get'; stream: number; version: number; max?: number } | { kind: 'list'; stream: number } | { kind: 'delete'; stream: number };
const STREAMS = ['s', 'other stream', 'ü{x}'];
const VERSIONS = ['1', '2', 'v:{a}'];
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant<'put'>('put'), stream: fc.oneof(fc.constant(0), fc.nat(2)), version: fc.oneof(fc.constant(0), fc.nat(2)), revision: fc.integer({ min: 1, max: 6 }), state: fc.string({ maxLength: 5 }) }) },
  // gets mostly where the puts went (stream 0 and version 0 are the likeliest below), so they find something
  { weight: 4, arbitrary: fc.record({ kind: fc.constant<'get'>('get'), stream: fc.oneof(fc.constant(0), fc.nat(2)), version: fc.oneof(fc.constant(0), fc.nat(2)), max: fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'list'>('list'), stream: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'delete'>('delete'), stream: fc.nat(2) }) },
);

for (const kind of kinds) {
  describe.skipIf(!kind.up)(`snapshot store: ${kind.name}`, () => {
    it('put/get/list/delete equal the model (fast-check)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 8, maxLength: 30 }), async (ops) => {
          const { store } = kind.open();
          const model = new Map<string, SnapshotRecord>(); // `${stream}\0${version}\0${revision}`
          const run = uniqueName('r');
          try {
            for (const op of ops) {
              const stream = `${run}/${STREAMS[op.stream]!}`;
              if (op.kind === 'put') {
                const rec: SnapshotRecord = { stream, version: VERSIONS[op.version]!, revision: op.revision, time: new Date(1000 + op.revision), eventId: `e${op.revision}`, state: JSON.stringify(op.state) };
                await store.put(rec);
                model.set(`${stream}\0${rec.version}\0${rec.revision}`, rec);
              } else if (op.kind === 'get') {
                const version = VERSIONS[op.version]!;
                const want = [...model.values()].filter((r) => r.stream === stream && r.version === version && r.revision <= (op.max ?? Infinity)).sort((a, b) => b.revision - a.revision)[0];
                expect(await store.get(stream, { version, maxRevision: op.max })).toEqual(want);
              } else if (op.kind === 'list') {
                const want = [...model.values()].filter((r) => r.stream === stream).sort((a, b) => a.revision - b.revision || (a.version < b.version ? -1 : 1)).map(({ state: _, ...info }) => info);
                expect(await store.list(stream)).toEqual(want);
              } else {
                const mine = [...model.keys()].filter((k) => k.startsWith(`${stream}\0`));
                expect(await store.delete(stream)).toBe(mine.length);
                for (const k of mine) model.delete(k);
              }
            }
          } finally {
            await store.close();
          }
        }),
        { numRuns: 30 },
      );
    }, 180_000);

    it('a StreamAgent on a log of the same backend: load, loadAt and rebuildSnapshots equal the fold; a new agent over a re-opened store uses the snapshots', async () => {
      const { store, reopen, log: openLog } = kind.open();
      const log = openLog();
      const stream = uniqueName('agent');
      const agent = new StreamAgent<never, { n: number }>({ log, stream, initial: { n: 0 }, snapshots: store, snapshotEvery: 3 });
      try {
        for (let i = 1; i <= 10; i++) await agent.update((d) => void (d.n = i));
        await agent.flushSnapshots();
        expect(await agent.load()).toEqual({ n: 10 });
        expect(await agent.loadAt({ version: 7 })).toEqual({ n: 7 });
        expect((await store.list(stream)).map((s) => s.revision)).toEqual([3, 6, 9]);
        await agent.deleteSnapshots();
        expect(await store.list(stream)).toEqual([]);
        expect(await agent.rebuildSnapshots()).toBe(10);
        expect((await store.list(stream)).map((s) => s.revision)).toEqual([3, 6, 9]);
        const again = reopen();
        const fresh = new StreamAgent<never, { n: number }>({ log, stream, initial: { n: 0 }, snapshots: again, snapshotEvery: 3 });
        expect(await fresh.loadAt({ version: 9 })).toEqual({ n: 9 });
        expect(await fresh.load()).toEqual({ n: 10 });
        await fresh.close();
        if (again !== store) await again.close();
      } finally {
        await agent.close();
        await store.close();
        await log.close();
      }
    }, 60_000);
  });
}
