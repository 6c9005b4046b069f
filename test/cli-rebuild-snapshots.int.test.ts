/**
 * `dgent rebuild-snapshots` with every snapshot store a command can reach: the real binary, the
 * CLI fixture's StreamAgent stream `agent-1` imported into a PostgreSQL schema and a Redis prefix,
 * its snapshots rebuilt into a PostgresSnapshotStore / RedisSnapshotStore on the same server
 * (what a StreamAgent there then reads), into SQLite from a PostgreSQL log, and `memory:` / `file:`
 * as one-line usage errors (exit 2).
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteSnapshotStore, StreamAgent } from '../src/index.js';
import { PostgresEventLog, PostgresSnapshotStore } from '../src/postgres.js';
import { RedisEventLog, RedisSnapshotStore } from '../src/redis.js';
import { dgent, expectOneLineError, FIXTURE } from './cli-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const pg = await requireService('PostgreSQL', postgresUrl());
const redis = await requireService('Redis', REDIS_URL);
const fixture = readFileSync(FIXTURE, 'utf8');
const schema = uniqueSchema('dgt_rsnap');
const PG_URL = `${postgresUrl()}?schema=${schema}`;
const prefix = uniqueName('dgtrsnap');
const REDIS = `${REDIS_URL}/0?prefix=${prefix}`;
const dir = mkdtempSync(join(tmpdir(), 'dgent-cli-rsnap-'));

beforeAll(async () => {
  if (pg) expect((await dgent(['import', PG_URL], { input: fixture })).code).toBe(0);
  if (redis) expect((await dgent(['import', REDIS, '--new-times'], { input: fixture })).code).toBe(0);
}, 120_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (pg) await dropSchemas([schema]);
});

async function json(args: string[]): Promise<unknown> {
  const r = await dgent([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('dgent rebuild-snapshots into every snapshot store', () => {
  it.skipIf(!pg)('postgres:// snapshots of a PostgreSQL log: stored in the schema, and a StreamAgent there loads from them', async () => {
    expect(await json(['rebuild-snapshots', 'agent-1', '-u', PG_URL, '--snapshots', PG_URL, '--every', '2'])).toEqual({ stream: 'agent-1', revision: 4, snapshots: 2 });
    const store = new PostgresSnapshotStore({ connectionString: postgresUrl(), schema });
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    try {
      expect((await store.list('agent-1')).map((s) => s.revision)).toEqual([2, 4]);
      const agent = new StreamAgent({ log, stream: 'agent-1', snapshots: store });
      const plain = new StreamAgent({ log, stream: 'agent-1' });
      expect(await agent.load()).toEqual(await plain.load());
      await agent.close();
      await plain.close();
      // again: the old snapshots are replaced, not added to
      expect(await json(['rebuild-snapshots', 'agent-1', '-u', PG_URL, '--snapshots', PG_URL, '--every', '3'])).toEqual({ stream: 'agent-1', revision: 4, snapshots: 1 });
    } finally {
      await store.close();
      await log.close();
    }
  }, 120_000);

  it.skipIf(!redis)('redis:// snapshots of a Redis log', async () => {
    expect(await json(['rebuild-snapshots', 'agent-1', '-u', REDIS, '--snapshots', REDIS, '--every', '2'])).toEqual({ stream: 'agent-1', revision: 4, snapshots: 2 });
    const store = new RedisSnapshotStore({ url: REDIS_URL, prefix });
    const log = new RedisEventLog({ url: REDIS_URL, prefix });
    try {
      expect((await store.list('agent-1')).map((s) => s.revision)).toEqual([2, 4]);
      const agent = new StreamAgent({ log, stream: 'agent-1', snapshots: store });
      const plain = new StreamAgent({ log, stream: 'agent-1' });
      expect(await agent.load()).toEqual(await plain.load());
      await agent.close();
      await plain.close();
      expect(await store.delete('agent-1')).toBe(2);
    } finally {
      await store.close();
      await log.close();
    }
  }, 120_000);

  it.skipIf(!pg)('sqlite: snapshots of a PostgreSQL log', async () => {
    const path = join(dir, 'snaps.db');
    expect(await json(['rebuild-snapshots', 'agent-1', '-u', PG_URL, '--snapshots', `sqlite:${path}`, '--every', '1'])).toEqual({ stream: 'agent-1', revision: 4, snapshots: 4 });
    const store = new SqliteSnapshotStore({ path });
    expect((await store.list('agent-1')).map((s) => s.revision)).toEqual([1, 2, 3, 4]);
    await store.close();
  }, 120_000);

  it.skipIf(!pg)('memory: and file: snapshot stores are one-line usage errors (exit 2)', async () => {
    expectOneLineError(await dgent(['rebuild-snapshots', 'agent-1', '-u', PG_URL, '--snapshots', 'memory:']), 2, /memory: snapshot store lives inside one process/);
    expectOneLineError(await dgent(['rebuild-snapshots', 'agent-1', '-u', PG_URL, '--snapshots', `file:${dir}`]), 2, /names no snapshot store/);
  }, 120_000);
});
