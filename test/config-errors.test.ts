/**
 * Configuration mistakes a new user makes get a ValidationError (never BackendUnavailableError,
 * which fallback() fails over on) and write nothing; a file path in a directory that does not
 * exist yet works, as it does for the event logs. No server needed here: see
 * config-errors.int.test.ts for PostgreSQL and Redis.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, ClosedError, DgentError, ValidationError } from '../src/core/errors.js';
import { checkPostgresUrl, checkRedisUrl } from '../src/core/connection-url.js';
import { VolatileAgent } from '../src/agents/volatile-agent.js';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { StreamAgent } from '../src/agents/stream-agent.js';
import { SqliteSnapshotStore } from '../src/agents/stream/sqlite-snapshot-store.js';
import { CachedAgent } from '../src/compose/cached-agent.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { RedisAgent } from '../src/agents/redis-agent.js';
import { RedisEventLog } from '../src/streams/redis/redis-event-log.js';
import { PostgresEventLog } from '../src/streams/postgres/postgres-event-log.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import { VectorAgent } from '../src/vector.js';
import type { DataAgent, LoadAtTarget, Versioned } from '../src/agents/data-agent.js';
import type { EventLog } from '../src/streams/event-log.js';
import { expectSerializationErrorNamesTheEvent } from './support/serialization-error.js';
import { rejection, thrown } from './support/errors.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, `case-${n++}`);

describe('loadAt with a bad target is a ValidationError on every agent', () => {
  type V = DataAgent<{ v: number }> & Versioned<{ v: number }> & { close(): Promise<void> };
  const agents: [string, () => V][] = [
    ['VolatileAgent', () => new VolatileAgent<{ v: number }>()],
    ['PersistentAgent', () => new PersistentAgent<{ v: number }>({ path: join(fresh(), 'a.json') })],
    ['SQLAgent (SQLite)', () => new SQLAgent<{ v: number }>({ path: join(fresh(), 'a.db'), id: 'a' })],
    ['StreamAgent', () => new StreamAgent({ log: new MemoryEventLog(), stream: 's' }) as unknown as V],
    ['CachedAgent', () => new CachedAgent({ cache: new VolatileAgent<{ v: number }>(), backend: new VolatileAgent<{ v: number }>() }) as unknown as V],
    // the argument is refused before Redis is asked: no server needed (and none at this port)
    ['RedisAgent', () => new RedisAgent<{ v: number }>({ url: 'redis://127.0.0.1:1/0', key: 'k' })],
  ];
  const bad: [string, unknown][] = [
    ["{ time: 'yesterday' }", { time: 'yesterday' }],
    ['{ time: NaN }', { time: NaN }],
    ['{ time: new Date(NaN) }', { time: new Date(NaN) }],
    ['{ time: {} }', { time: {} }],
    ['{ version: 0 }', { version: 0 }],
    ["{ version: '2' }", { version: '2' }],
    ['{}', {}],
    ['null', null],
  ];
  for (const [name, open] of agents) {
    it(`${name}.loadAt(bad) rejects with ValidationError`, async () => {
      const agent = open();
      try {
        if (name !== 'RedisAgent') await agent.save({ v: 1 });
        for (const [label, target] of bad) {
          const e = await rejection(agent.loadAt(target as LoadAtTarget));
          expect(e, `${name} ${label}`).toBeInstanceOf(ValidationError);
        }
      } finally {
        await agent.close();
      }
    });
  }
});

describe('missing parent directories are created wherever a file path is given', () => {
  it('PersistentAgent: the first save creates ./data/…', async () => {
    const path = join(fresh(), 'data', 'deeper', 'agent.json');
    const a = new PersistentAgent<{ turns: string[] }>({ path, initial: { turns: [] } });
    await a.update((s) => {
      s.turns.push('hi');
    });
    await a.close();
    const b = new PersistentAgent<{ turns: string[] }>({ path });
    expect(await b.load()).toEqual({ turns: ['hi'] });
    await b.close();
  });

  it('PersistentAgent: load() before any save does not create directories', async () => {
    const dir = join(fresh(), 'data');
    const a = new PersistentAgent<{ v: number }>({ path: join(dir, 'agent.json'), initial: { v: 0 } });
    expect(await a.load()).toEqual({ v: 0 });
    await a.close();
    expect(existsSync(dir)).toBe(false);
  });

  it('SQLAgent { path }', async () => {
    const a = new SQLAgent<{ v: number }>({ path: join(fresh(), 'data', 'agents.db'), id: 'x' });
    await a.save({ v: 1 });
    expect(await a.load()).toEqual({ v: 1 });
    await a.close();
  });

  it('SqliteSnapshotStore { path }', async () => {
    const store = new SqliteSnapshotStore({ path: join(fresh(), 'data', 'snapshots.db') });
    expect(await store.list('s')).toEqual([]);
    await store.close();
  });

  it('VectorAgent { path } (as before)', async () => {
    const path = join(fresh(), 'data', 'memory.vec');
    const m = new VectorAgent({ dimension: 2, metric: 'l2', engine: 'js', path });
    await m.upsert([{ id: 'a', vector: [0, 1] }]);
    await m.save();
    await m.close();
    expect(existsSync(path)).toBe(true);
  });

  it('FileEventLog and SqliteEventLog (as before)', async () => {
    const file = new FileEventLog({ dir: join(fresh(), 'data', 'log') });
    await file.append('s', [{ type: 'T', data: 1 }]);
    await file.close();
    const sqlite = new SqliteEventLog({ path: join(fresh(), 'data', 'log.db') });
    await sqlite.append('s', [{ type: 'T', data: 1 }]);
    await sqlite.close();
  });
});

describe('a path that cannot be used is a ValidationError, never BackendUnavailableError', () => {
  /** a regular file where a directory must be */
  const fileAsDir = (): string => {
    const f = join(fresh() + '-file');
    writeFileSync(f, 'not a directory');
    return f;
  };

  it('PersistentAgent under a file', async () => {
    const a = new PersistentAgent<{ v: number }>({ path: join(fileAsDir(), 'agent.json') });
    const e = await rejection(a.save({ v: 1 }));
    expect(e).toBeInstanceOf(ValidationError);
    expect(e).not.toBeInstanceOf(BackendUnavailableError);
    await a.close();
  });

  it('SQLAgent under a file, and a directory as the database', async () => {
    const a = new SQLAgent<{ v: number }>({ path: join(fileAsDir(), 'a.db'), id: 'x' });
    expect(await rejection(a.save({ v: 1 }))).toBeInstanceOf(ValidationError);
    await a.close();
    const dir = fresh();
    mkdirSync(dir);
    const b = new SQLAgent<{ v: number }>({ path: dir, id: 'x' });
    expect(await rejection(b.save({ v: 1 }))).toBeInstanceOf(ValidationError);
    await b.close();
  });

  it('SqliteSnapshotStore under a file', () => {
    expect(thrown(() => new SqliteSnapshotStore({ path: join(fileAsDir(), 's.db') }))).toBeInstanceOf(ValidationError);
  });

  it('FileEventLog and SqliteEventLog under a file', async () => {
    const f = new FileEventLog({ dir: join(fileAsDir(), 'log') });
    expect(await rejection(f.append('s', [{ type: 'T', data: 1 }]))).toBeInstanceOf(ValidationError);
    await f.close();
    const s = new SqliteEventLog({ path: join(fileAsDir(), 'log.db') });
    expect(await rejection(s.append('s', [{ type: 'T', data: 1 }]))).toBeInstanceOf(ValidationError);
    await s.close();
  });
});

describe('Redis options', () => {
  it('RedisAgent and RedisEventLog without url or redis throw ValidationError (code VALIDATION)', () => {
    for (const make of [() => new RedisAgent({ key: 'k' }), () => new RedisEventLog({}), () => new RedisAgent({ key: 'k', url: undefined })]) {
      const e = thrown(make);
      expect(e).toBeInstanceOf(ValidationError);
      expect((e as DgentError).code).toBe('VALIDATION');
    }
  });

  it('malformed Redis URLs throw ValidationError naming the part, at construction', () => {
    const cases: [string, RegExp][] = [
      ['redis:/oops', /must start with redis:\/\/ or rediss:\/\//],
      ['redis://host:notaport', /port "notaport" is not a number from 1 to 65535/],
      ['redis://host:70000', /port "70000"/],
      ['redis://127.0.0.1:6379/abc', /database "abc" is not an integer/],
      ['redis://:6379', /names no host/],
      ['http://127.0.0.1:6379', /must start with redis:\/\//],
      ['127.0.0.1:6379', /must start with redis:\/\//],
      ['redis://user:p%zz@host:6379', /password is not valid percent-encoding/],
    ];
    for (const [url, message] of cases) {
      for (const make of [() => new RedisAgent({ url, key: 'k' }), () => new RedisEventLog({ url })]) {
        const e = thrown(make);
        expect(e, url).toBeInstanceOf(ValidationError);
        expect((e as Error).message, url).toMatch(message);
      }
    }
  });

  it('a URL with a password never shows it in the error', () => {
    const e = thrown(() => new RedisAgent({ url: 'redis://me:s3cret@host:x/0', key: 'k' }));
    expect((e as Error).message).not.toContain('s3cret');
    expect((e as Error).message).toContain('***');
  });

  it('checkRedisUrl reads host, port and db', () => {
    expect(checkRedisUrl('redis://127.0.0.1:6379/3', 't')).toEqual({ host: '127.0.0.1', port: 6379, db: 3 });
    expect(checkRedisUrl('rediss://u:p@[::1]', 't')).toEqual({ host: '::1', port: 6379, db: 0 });
    expect(checkRedisUrl('redis://h/', 't')).toEqual({ host: 'h', port: 6379, db: 0 });
  });
});

it('a malformed EventStoreDB connection string is a ValidationError (was the client\'s raw ParseError)', () => {
  for (const connectionString of ['esdb:/oops', 'esdb://host:notaport?tls=false']) {
    const e = thrown(() => new EventStoreDBEventLog({ connectionString }));
    expect(e, connectionString).toBeInstanceOf(ValidationError);
    expect((e as Error).message).toContain(connectionString);
  }
});

describe('PostgreSQL URLs: one check for SQLAgent and PostgresEventLog', () => {
  const cases: [string, RegExp][] = [
    ['postgres:/oops', /must start with postgres:\/\/ or postgresql:\/\//],
    ['postgres://host:notaport/db', /port "notaport"/],
    ['mysql://host/db', /must start with postgres:\/\//],
    ['postgres://u:p%zz@host/db', /password is not valid percent-encoding/],
    ['postgres://host/a/b', /database name "a\/b" must not contain \//],
  ];
  it('malformed URLs throw ValidationError naming the part, at construction', () => {
    for (const [url, message] of cases) {
      for (const make of [() => new PostgresEventLog({ connectionString: url }), () => new SQLAgent({ connectionString: url, id: 'a' })]) {
        const e = thrown(make);
        expect(e, url).toBeInstanceOf(ValidationError);
        expect((e as Error).message, url).toMatch(message);
      }
    }
  });

  it('accepts the usual forms', () => {
    for (const url of ['postgres://postgres@127.0.0.1:5432/test', 'postgresql://u:p%40x@h/db?sslmode=require', 'postgres:///db?host=/run/postgresql', 'postgres://h']) {
      expect(checkPostgresUrl(url, 't')).toBe(url);
    }
  });
});

describe('a SerializationError in a log append says which event it was', () => {
  const logs: [string, () => EventLog][] = [
    ['MemoryEventLog', () => new MemoryEventLog()],
    ['FileEventLog', () => new FileEventLog({ dir: join(fresh(), 'log') })],
    ['SqliteEventLog', () => new SqliteEventLog({ path: join(fresh(), 'log.db') })],
  ];
  for (const [name, open] of logs) {
    it(`${name}: stream, index in the batch, type and field path; nothing appended`, async () => {
      const log = open();
      try {
        await expectSerializationErrorNamesTheEvent(log);
      } finally {
        await log.close();
      }
    });
  }
});

describe('close() twice resolves, and calls after close() are ClosedError', () => {
  it('SQLAgent (SQLite) and SqliteSnapshotStore', async () => {
    const a = new SQLAgent<{ n: number }>({ path: join(fresh(), 'a.db'), id: 'a' });
    await a.save({ n: 1 });
    await a.close();
    await a.close();
    expect(await rejection(a.load())).toBeInstanceOf(ClosedError);
    expect(await rejection(a.save({ n: 2 }))).toBeInstanceOf(ClosedError);
    const store = new SqliteSnapshotStore({ path: join(fresh(), 's.db') });
    await store.close();
    await store.close();
    expect(await rejection(store.list('s'))).toBeInstanceOf(ClosedError);
  });
});
