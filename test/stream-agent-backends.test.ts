/**
 * StreamAgent over the durable logs, in temp dirs: the DataAgent contract with real re-opening
 * (every agent closed → the log and snapshot store are closed and opened again from disk), and
 * snapshots in a SqliteSnapshotStore beside the log.
 */
import { describe, it, expect, afterEach } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StreamAgent, type Fold } from '../src/agents/stream-agent.js';
import { SqliteSnapshotStore } from '../src/agents/stream/sqlite-snapshot-store.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import type { EventLog } from '../src/streams/event-log.js';
import { dataAgentContract, type AgentPlace } from '../src/testing/index.js';

interface Backend {
  openLog(dir: string): EventLog;
  /** where the snapshots go: SQLite keeps them in a side table of the log's own file */
  snapshotPath(dir: string): string;
  /** damage the newest event's data in place (the log and snapshot store are closed) */
  corrupt?(dir: string): void;
}
const backends: [string, Backend][] = [
  [
    'FileEventLog',
    {
      openLog: (dir) => new FileEventLog({ dir: join(dir, 'log') }),
      snapshotPath: (dir) => join(dir, 'snapshots.db'),
      corrupt: (dir) => {
        // one bit of the newest frame flips under an intact length and checksum field
        const segment = join(dir, 'log', readdirSync(join(dir, 'log')).filter((f) => f.startsWith('segment-')).sort().at(-1)!);
        const bytes = readFileSync(segment);
        bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x01;
        writeFileSync(segment, bytes);
      },
    },
  ],
  [
    'SqliteEventLog',
    {
      openLog: (dir) => new SqliteEventLog({ path: join(dir, 'events.db') }),
      snapshotPath: (dir) => join(dir, 'events.db'),
      corrupt: (dir) => {
        const db = new Database(join(dir, 'events.db'));
        db.prepare("update dgent_events set data = '{\"torn' where position = (select max(position) from dgent_events)").run();
        db.close();
      },
    },
  ],
];

/**
 * A storage place whose agents share one open log and snapshot store; when the last agent closes,
 * both are closed, so the next open() reads everything back from disk.
 */
function place({ openLog, snapshotPath, corrupt }: Backend): AgentPlace {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-stream-agent-'));
  let open: { log: EventLog; snapshots: SqliteSnapshotStore; users: number } | undefined;
  const release = async (): Promise<void> => {
    const o = open!;
    if (--o.users > 0) return;
    open = undefined;
    await o.log.close();
    await o.snapshots.close();
  };
  return {
    open: () => {
      open ??= { log: openLog(dir), snapshots: new SqliteSnapshotStore({ path: snapshotPath(dir) }), users: 0 };
      open.users++;
      const agent = new StreamAgent({ log: open.log, stream: 'agent-1', snapshots: open.snapshots, snapshotEvery: 4 });
      const close = agent.close.bind(agent);
      let closed = false;
      agent.close = async () => {
        if (closed) return;
        closed = true;
        await close();
        await release();
      };
      return agent;
    },
    ...(corrupt && { corrupt: () => corrupt(dir) }),
    cleanup: async () => {
      if (open) {
        await open.log.close();
        await open.snapshots.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const [name, backend] of backends) {
  const { openLog, snapshotPath } = backend;
  dataAgentContract(`StreamAgent over ${name} with SqliteSnapshotStore`, () => place(backend), { reopen: true, runs: 40, requires: ['update', 'versioned', 'subscribe', 'close'] });

  describe(`StreamAgent over ${name}`, () => {
    const dirs: string[] = [];
    afterEach(() => {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });

    it('domain events, snapshots and loadAt survive closing and re-opening the log and the snapshot store', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dgent-stream-agent-'));
      dirs.push(dir);
      type Ev = { type: 'Added'; data: { n: number; at: Date } };
      const fold: Fold<Ev, { sum: number; last: Date | null }> = (s, e) => ({ sum: s.sum + e.data.n, last: e.data.at });
      const open = () => {
        const log = openLog(dir);
        const snapshots = new SqliteSnapshotStore({ path: snapshotPath(dir) });
        const agent = new StreamAgent<Ev, { sum: number; last: Date | null }>({ log, stream: 'sum', initial: { sum: 0, last: null }, fold, snapshots, snapshotEvery: 10 });
        return { log, snapshots, agent };
      };
      const first = open();
      for (let i = 1; i <= 5; i++) {
        await first.agent.append(Array.from({ length: 7 }, (_, k) => ({ type: 'Added' as const, data: { n: 1, at: new Date(i * 100 + k) } })), { expectedRevision: (i - 1) * 7 });
      }
      expect(await first.agent.load()).toEqual({ sum: 35, last: new Date(506) });
      await first.agent.close();
      await first.log.close();
      await first.snapshots.close();

      const second = open();
      expect((await second.snapshots.list('sum')).map((s) => s.revision)).toEqual([10, 20, 30]);
      expect(await second.agent.load()).toEqual({ sum: 35, last: new Date(506) });
      expect(await second.agent.loadAt({ revision: 23 })).toEqual({ sum: 23, last: new Date(401) });
      expect(await second.agent.version()).toBe(35);
      const types = new Set<string>();
      for await (const e of second.log.readAll()) types.add(e.type);
      expect([...types]).toEqual(['Added']); // snapshots, even in the log's own file, are not events
      await second.agent.close();
      await second.log.close();
      await second.snapshots.close();
    });
  });
}
