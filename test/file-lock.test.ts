import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync, utimesSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireFileLock, readLockHolder, tryAcquireFileLock, withFileLock } from '../src/core/file-lock.js';
import { LockedError, ValidationError } from '../src/core/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dgent-lock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

describe('acquireFileLock', () => {
  it('acquire writes pid and nonce; release removes the lock file', async () => {
    const p = join(dir, 'a.lock');
    const lock = await acquireFileLock(p);
    expect(lock.stolen).toBe(false);
    expect(readLockHolder(p)).toMatchObject({ pid: process.pid, nonce: lock.nonce, host: hostname() });
    expect(lock.isHeld()).toBe(true);
    await lock.release();
    expect(existsSync(p)).toBe(false);
    expect(lock.isHeld()).toBe(false);
    await lock.release(); // idempotent
  });

  it('acquire with wait: false on a held lock throws LockedError naming the holder', async () => {
    const p = join(dir, 'a.lock');
    const lock = await acquireFileLock(p);
    const err = await acquireFileLock(p, { wait: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).holder).toBe(`pid ${process.pid} on ${hostname()}`);
    await lock.release();
  });

  it('acquire waits for release, and times out with LockedError when the holder keeps it', async () => {
    const p = join(dir, 'a.lock');
    const first = await acquireFileLock(p);
    await expect(acquireFileLock(p, { timeoutMs: 100 })).rejects.toBeInstanceOf(LockedError);
    const waiting = acquireFileLock(p, { timeoutMs: 30_000 });
    setTimeout(() => first.releaseSync(), 30);
    const second = await waiting;
    expect(second.isHeld()).toBe(true);
    await second.release();
  });

  it('withFileLock serialises concurrent critical sections in one process', async () => {
    const p = join(dir, 'a.lock');
    let inside = 0;
    let max = 0;
    await Promise.all(
      Array.from({ length: 20 }, () =>
        withFileLock(p, async () => {
          inside++;
          max = Math.max(max, inside);
          await new Promise((r) => setTimeout(r, 1));
          inside--;
        }, { timeoutMs: 30_000 }),
      ),
    );
    expect(max).toBe(1);
  });

  it('acquire takes over a lock whose holder pid is dead on this host', async () => {
    const p = join(dir, 'a.lock');
    writeFileSync(p, JSON.stringify({ pid: deadPid(), nonce: 'old', host: hostname(), boot: bootId(), time: 0 }));
    const lock = await acquireFileLock(p, { wait: false });
    expect(lock.stolen).toBe(true);
    expect(readLockHolder(p)).toMatchObject({ nonce: lock.nonce });
    await lock.release();
  });

  it('acquire does not take over a lock held by a live pid or by another host', async () => {
    const p = join(dir, 'a.lock');
    writeFileSync(p, JSON.stringify({ pid: process.ppid, nonce: 'live', host: hostname(), boot: bootId(), time: 0 }));
    await expect(acquireFileLock(p, { wait: false })).rejects.toBeInstanceOf(LockedError);
    writeFileSync(p, JSON.stringify({ pid: deadPid(), nonce: 'remote', host: `not-${hostname()}`, boot: 'x', time: 0 }));
    await expect(acquireFileLock(p, { wait: false })).rejects.toBeInstanceOf(LockedError);
    expect(readLockHolder(p)).toMatchObject({ nonce: 'remote' });
  });

  it('acquire takes over a lock written before a reboot (different boot id)', async (ctx) => {
    if (!bootId()) return ctx.skip();
    const p = join(dir, 'a.lock');
    writeFileSync(p, JSON.stringify({ pid: process.ppid, nonce: 'old-boot', host: hostname(), boot: 'another-boot', time: 0 }));
    const lock = await acquireFileLock(p, { wait: false });
    await lock.release();
  });

  it('an empty (torn) lock file is stale only after unreadableStaleMs', async () => {
    const p = join(dir, 'a.lock');
    writeFileSync(p, '');
    await expect(acquireFileLock(p, { wait: false })).rejects.toBeInstanceOf(LockedError);
    const old = new Date(Date.now() - 60_000);
    utimesSync(p, old, old);
    const lock = await acquireFileLock(p, { wait: false });
    await lock.release();
  });

  it('tryAcquire repeated on one dead lock: exactly one call wins and no steal file remains', async () => {
    const p = join(dir, 'a.lock');
    writeFileSync(p, JSON.stringify({ pid: deadPid(), nonce: 'old', host: hostname(), boot: bootId(), time: 0 }));
    const results = Array.from({ length: 10 }, () => tryAcquireFileLock(p));
    const winners = results.filter((r) => !('holder' in r));
    expect(winners).toHaveLength(1);
    expect(existsSync(`${p}.steal`)).toBe(false);
  });

  it('acquire rejects a path with a NUL byte with ValidationError', async () => {
    await expect(acquireFileLock(join(dir, 'a\0.lock'))).rejects.toBeInstanceOf(ValidationError);
  });
});
