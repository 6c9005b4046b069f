/**
 * A SQLite path that cannot name a database file is a configuration mistake: ValidationError naming
 * the path, never BackendUnavailableError (which `fallback()` fails over on, and retries wait out).
 * Real files: a directory as the path, a parent that is a file, and (run as an unprivileged user in
 * a child process, since root may write anywhere) a folder the process may not write.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, MemoryEventLog, SQLAgent, SqliteEventLog, SqliteViewStorage, Store, ValidationError } from '../src/index.js';
import { ROOT } from './cli-support.js';
import { errorOf } from './support/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectPathMistake(e: unknown, path: string): void {
  expect(e).toBeInstanceOf(ValidationError);
  expect(e).not.toBeInstanceOf(BackendUnavailableError);
  expect((e as Error).message).toContain(path);
}

describe('SQLite given a directory as its database path', () => {
  const data = join(dir, 'data');
  mkdirSync(data);

  it('SqliteEventLog append, read and revision on a directory throw ValidationError naming the path', async () => {
    const log = new SqliteEventLog({ path: data });
    try {
      const e = await errorOf(() => log.append('s', [{ type: 'T', data: 1 }]));
      expectPathMistake(e, data);
      expect((e as Error).message).toMatch(/is a directory/);
      expectPathMistake(await errorOf(() => log.revision('s')), data);
    } finally {
      await log.close().catch(() => undefined);
    }
  });

  it('SqliteViewStorage on a directory (views of a Store) throws ValidationError naming the path', async () => {
    const views = new SqliteViewStorage({ path: data });
    try {
      expectPathMistake(await errorOf(() => views.init()), data);
    } finally {
      await views.close().catch(() => undefined);
    }
    const log = new MemoryEventLog();
    const store = new Store({ log, views: new SqliteViewStorage({ path: data }), sweepIntervalMs: 0 });
    try {
      expectPathMistake(await errorOf(() => store.set('k', 1)), data);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it('SQLAgent on a directory throws ValidationError naming the path', async () => {
    expectPathMistake(await errorOf(async () => new SQLAgent<{ n: number }>({ path: data, id: 'a', initial: { n: 0 } }).load()), data);
  });
});

describe('SQLite given a path whose parent is a file', () => {
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const path = join(file, 'events.db');

  it('SqliteEventLog append throws ValidationError naming the parent', async () => {
    const log = new SqliteEventLog({ path });
    try {
      expectPathMistake(await errorOf(() => log.append('s', [{ type: 'T', data: 1 }])), file);
    } finally {
      await log.close().catch(() => undefined);
    }
  });

  it('SqliteViewStorage init throws ValidationError naming the parent', async () => {
    const views = new SqliteViewStorage({ path });
    try {
      expectPathMistake(await errorOf(() => views.init()), file);
    } finally {
      await views.close().catch(() => undefined);
    }
  });
});

describe('SQLite in a folder the process may not write', () => {
  const root = process.getuid?.() === 0;
  it.skipIf(!root && process.platform !== 'linux')('SqliteEventLog append (as an unprivileged user) throws ValidationError naming the path', () => {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o755); // root's; others may read, not write
    const path = join(locked, 'events.db');
    const script = `
      import { SqliteEventLog } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
      const log = new SqliteEventLog({ path: ${JSON.stringify(path)} });
      try { await log.append('s', [{ type: 'T', data: 1 }]); console.log(JSON.stringify({ ok: true })); }
      catch (e) { console.log(JSON.stringify({ name: e.constructor.name, message: e.message })); }
      finally { await log.close().catch(() => undefined); }
    `;
    const file = join(dir, 'locked-run.mts');
    writeFileSync(file, script);
    chmodSync(file, 0o644);
    const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', ...(root ? { uid: 65534, gid: 65534 } : {}), env: { ...process.env, HOME: tmpdir() } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { name?: string; message?: string; ok?: boolean };
    expect(out.name).toBe('ValidationError');
    expect(out.message).toContain(path);
  }, 60_000);
});
