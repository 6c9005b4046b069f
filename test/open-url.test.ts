/**
 * Backends by URL: parseBackendUrl, fromEnv, openLog, openAgent, openStore on the local backends
 * (memory, file, SQLite); the network ones are in test/cli*.int tests and open-url.int.test.ts.
 */
import { mkdtempSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileEventLog, MemoryEventLog, SQLAgent, SqliteEventLog, ValidationError, VolatileAgent, PersistentAgent, fromEnv, openAgent, openLog, openStore, parseBackendUrl } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-open-url-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('no error');
}

describe('parseBackendUrl', () => {
  it.each([
    ['memory:', { kind: 'memory' }],
    ['file:./data', { kind: 'file', dir: './data' }],
    ['file:///var/lib/x', { kind: 'file', dir: '/var/lib/x' }],
    ['sqlite:./data.db', { kind: 'sqlite', path: './data.db' }],
    ['sqlite:///tmp/a%20b.db', { kind: 'sqlite', path: '/tmp/a b.db' }],
    ['postgres://u@h:5432/db?schema=app', { kind: 'postgres', connectionString: 'postgres://u@h:5432/db', schema: 'app' }],
    ['postgresql://h/db?sslmode=disable&schema=s1', { kind: 'postgres', connectionString: 'postgresql://h/db?sslmode=disable', schema: 's1' }],
    ['redis://127.0.0.1:6379/2?prefix=app', { kind: 'redis', redisUrl: 'redis://127.0.0.1:6379/2', prefix: 'app' }],
    ['esdb://localhost:2113?tls=false', { kind: 'esdb', connectionString: 'esdb://localhost:2113?tls=false' }],
  ])('%s names %o', (url, expected) => {
    expect(parseBackendUrl(url)).toMatchObject(expected);
  });

  it.each([
    ['', 'url', 'a backend URL is needed'],
    ['data.db', 'scheme', 'has no scheme'],
    ['mysql://h/db', 'scheme', 'unknown scheme "mysql:"'],
    ['sqlite:', 'path', 'names no path'],
    ['file://host/x', 'path', 'no host'],
    ['sqlite:./a.db?mode=ro', 'query', 'takes no query'],
    ['postgres://h:99999/db', 'port', 'port "99999" is not a number from 1 to 65535'],
    ['postgres://h/db?schema=Bad-Name', 'schema', 'the schema "Bad-Name" must match'],
    ['redis://:6379', 'host', 'names no host'],
    ['redis://h/x', 'db', 'the database "x" is not an integer'],
    ['esdb://', 'host', 'names no host'],
    ['memory:x', 'path', 'takes nothing after the colon'],
  ])('%j is a ValidationError about the %s', (url, part, message) => {
    const e = validationError(() => parseBackendUrl(url, 'DGENT_LOG_URL'));
    expect(e.message.startsWith('DGENT_LOG_URL: ')).toBe(true);
    expect(e.message).toContain(message);
    expect(e.issues[0]?.path).toBe(part);
  });

  it('never shows a password', () => {
    const e = validationError(() => parseBackendUrl('postgres://u:secret@h:0/db'));
    expect(e.message).not.toContain('secret');
  });
});

describe('fromEnv', () => {
  it('DGENT_LOG_URL overrides DGENT_URL for the log; the others fall back to DGENT_URL', () => {
    const env = fromEnv({ DGENT_URL: 'sqlite:./a.db', DGENT_LOG_URL: 'memory:' });
    expect(env.log).toMatchObject({ variable: 'DGENT_LOG_URL', target: { kind: 'memory' } });
    expect(env.store).toMatchObject({ variable: 'DGENT_URL', target: { kind: 'sqlite', path: './a.db' } });
    expect(env.agent?.variable).toBe('DGENT_URL');
  });

  it('a bad variable is a ValidationError naming it and the wrong part', () => {
    const e = validationError(() => fromEnv({ DGENT_STORE_URL: 'redis://h:port' }));
    expect(e.message).toMatch(/^DGENT_STORE_URL: /);
    expect(e.message).toContain('port "port"');
    expect(e.issues[0]?.path).toBe('port');
  });

  it('nothing set: every role is undefined; openLog() without a URL names the variables', async () => {
    expect(fromEnv({})).toEqual({ log: undefined, store: undefined, agent: undefined });
    await expect(openLog(undefined, { env: {} })).rejects.toThrow(/set DGENT_LOG_URL or DGENT_URL/);
  });
});

describe('openLog / openAgent / openStore', () => {
  it('opens the log class each URL names, and the logs work', async () => {
    const cases: [string, unknown][] = [
      ['memory:', MemoryEventLog],
      [`file:${join(dir, 'log')}`, FileEventLog],
      [`sqlite:${join(dir, 'log.db')}`, SqliteEventLog],
    ];
    for (const [url, cls] of cases) {
      const log = await openLog(url);
      expect(log).toBeInstanceOf(cls);
      await log.append('s', [{ type: 'T', data: 1 }]);
      expect(await log.revision('s')).toBe(1);
      await log.close();
    }
  });

  it('openLog() reads DGENT_LOG_URL from the env option', async () => {
    const log = await openLog(undefined, { env: { DGENT_URL: 'memory:' } });
    expect(log).toBeInstanceOf(MemoryEventLog);
  });

  it('opens the agent class each URL names; a file agent is one file under the directory whatever the key', async () => {
    const v = await openAgent('memory:', 'k', { initial: { n: 0 } });
    expect(v).toBeInstanceOf(VolatileAgent);
    const p = await openAgent<{ n: number }>(`file:${join(dir, 'agents')}`, '../../etc/passwd');
    expect(p).toBeInstanceOf(PersistentAgent);
    await p.save({ n: 1 });
    expect(readdirSync(join(dir, 'agents')).filter((f) => f.endsWith('.json'))).toEqual(['%2E%2E%2F%2E%2E%2Fetc%2Fpasswd.json']);
    const s = await openAgent<{ n: number }>(`sqlite:${join(dir, 'agents.db')}`, 'a1');
    expect(s).toBeInstanceOf(SQLAgent);
    await s.save({ n: 2 });
    expect(await s.load()).toEqual({ n: 2 });
    await (s as unknown as { close(): Promise<void> }).close();
  });

  it('openStore opens a Store over the log and closes the log with it', async () => {
    const path = join(dir, 'store.db');
    const store = await openStore(`sqlite:${path}`);
    await store.set('k', { v: 1 });
    expect(await store.get('k')).toEqual({ v: 1 });
    await store.close();
    expect(existsSync(path)).toBe(true);
    const log = await openLog(`sqlite:${path}`);
    expect(await log.revision('kv:default/k')).toBe(1);
    await log.close();
  });
});
