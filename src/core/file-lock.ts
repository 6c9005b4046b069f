/**
 * Advisory cross-process file locks: an `O_EXCL` lock file holding the owner's pid, a nonce, the
 * host name and the boot id. A lock whose holder is provably gone (same host and a dead pid, or a
 * different boot of this host) is taken over; the takeover runs under a second, short-lived
 * `O_EXCL` "steal" file and re-verifies the nonce under it, so two stealers cannot both win.
 *
 * Locks held by another host are never stolen: a pid means nothing there. Waiters back off with
 * jitter up to `timeoutMs`, or fail at once with {@link LockedError} when `wait: false`.
 *
 * The creating calls are synchronous on purpose: they are metadata operations taking
 * microseconds, and doing them without an await means a lock file is never left created but
 * empty by anything short of a SIGKILL between two syscalls.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock('/data/log/.writer.lock', { timeoutMs: 5_000 });
 * try { ... } finally { await lock.release(); }
 * ```
 */
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LockedError, ValidationError } from './errors.js';
import { pathError } from './fs-errors.js';
import { sleep } from './mutex.js';

/** Options of {@link acquireFileLock}. */
export interface FileLockOptions {
  /** Wait for a held lock (default true). With false a held lock throws {@link LockedError} at once. */
  wait?: boolean | undefined;
  /** How long to wait before throwing {@link LockedError} (default 10 000 ms). */
  timeoutMs?: number | undefined;
  /**
   * A lock file without readable owner data (its creator was killed between create and write) is
   * treated as stale once it is this old (default 2 000 ms).
   */
  unreadableStaleMs?: number | undefined;
}

/** Who holds a lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  nonce: string;
  host: string;
  boot: string;
  /** epoch ms when the lock was taken */
  time: number;
}

/** A held lock. */
export interface FileLock {
  /** The lock file. */
  readonly path: string;
  /** Unique to this acquisition; written in the lock file. */
  readonly nonce: string;
  /**
   * True when this acquisition took over a stale lock: the previous holder died inside its
   * critical section, so whatever it was writing (temp files, a torn append) needs clearing.
   */
  readonly stolen: boolean;
  /** True while the lock file still names this acquisition (reads the file). */
  isHeld(): boolean;
  /** Remove the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
  /** Synchronous {@link release}, for exit handlers. */
  releaseSync(): void;
}

const HOST = hostname();
const PROCESS_NONCE = randomBytes(6).toString('hex');
let counter = 0;
let bootId: string | undefined;

/** This machine's boot id (Linux), so locks from before a reboot are recognised as stale. */
function currentBoot(): string {
  if (bootId === undefined) {
    try {
      bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      bootId = ''; // not Linux: fall back to the pid check alone
    }
  }
  return bootId;
}

function checkPath(path: string): void {
  if (typeof path !== 'string' || path.length === 0) throw new ValidationError('lock path must be a non-empty string');
  if (path.includes('\0')) throw new ValidationError('lock path must not contain NUL bytes');
}

/** The holder recorded in a lock file; undefined when the file is missing, 'unreadable' when torn. */
export function readLockHolder(path: string): LockHolder | 'unreadable' | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw pathError('cannot read lock', path, e); // a path mistake (no permission, ...) is a ValidationError
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (typeof h.pid === 'number' && typeof h.nonce === 'string' && typeof h.host === 'string') return h;
  } catch {
    // fall through: a torn write by a killed creator
  }
  return 'unreadable';
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the holder is provably gone. Other hosts are never judged. */
function holderDead(h: LockHolder): boolean {
  if (h.host !== HOST) return false;
  const boot = currentBoot();
  if (boot && h.boot && h.boot !== boot) return true;
  if (h.pid === process.pid) return false; // ourselves: another acquisition in this process, still live
  return !pidAlive(h.pid);
}

function describeHolder(h: LockHolder | 'unreadable' | undefined): string | undefined {
  if (h === undefined) return undefined;
  if (h === 'unreadable') return 'an unknown writer';
  return `pid ${h.pid} on ${h.host}`;
}

/** Create the lock file exclusively; false when it exists. */
function tryCreate(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw pathError('cannot create lock', path, e);
  }
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
  return true;
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

function ageMs(path: string): number | undefined {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Remove a stale lock whose content was `observed`, under the steal file so that only one
 * stealer acts on one observation. Returns true when the lock file was removed.
 */
function steal(path: string, observed: LockHolder | 'unreadable', staleMs: number): boolean {
  const stealPath = `${path}.steal`;
  const mine = JSON.stringify({ pid: process.pid, nonce: `${PROCESS_NONCE}-s${counter++}`, host: HOST, boot: currentBoot(), time: Date.now() });
  if (!tryCreate(stealPath, mine)) {
    // A stealer killed mid-steal leaves its file behind; clear it once it is clearly abandoned.
    const s = readLockHolder(stealPath);
    const age = ageMs(stealPath);
    const abandoned = s === 'unreadable' ? (age ?? 0) > staleMs : s !== undefined && holderDead(s);
    if (abandoned && (age ?? 0) > 50) unlinkQuiet(stealPath);
    return false;
  }
  try {
    const now = readLockHolder(path);
    if (now === undefined) return true;
    const same = observed === 'unreadable' ? now === 'unreadable' && (ageMs(path) ?? 0) > staleMs : now !== 'unreadable' && now.nonce === observed.nonce;
    if (!same) return false;
    unlinkQuiet(path);
    return true;
  } finally {
    unlinkQuiet(stealPath);
  }
}

/**
 * Try once to take the lock: the {@link FileLock} when taken, otherwise who holds it. Stale locks
 * are taken over within the call.
 */
export function tryAcquireFileLock(path: string, options: Pick<FileLockOptions, 'unreadableStaleMs'> = {}): FileLock | { holder: string | undefined } {
  checkPath(path);
  const staleMs = options.unreadableStaleMs ?? 2_000;
  const nonce = `${PROCESS_NONCE}-${counter++}`;
  const content = JSON.stringify({ pid: process.pid, nonce, host: HOST, boot: currentBoot(), time: Date.now() } satisfies LockHolder);
  let stolen = false;
  for (let i = 0; i < 3; i++) {
    if (tryCreate(path, content)) return makeLock(path, nonce, stolen);
    const h = readLockHolder(path);
    if (h === undefined) continue; // released between our create and our read: try again
    const stale = h === 'unreadable' ? (ageMs(path) ?? 0) > staleMs : holderDead(h);
    if (!stale || !steal(path, h, staleMs)) return { holder: describeHolder(h) };
    stolen = true;
  }
  return { holder: describeHolder(readLockHolder(path)) };
}

function makeLock(path: string, nonce: string, stolen: boolean): FileLock {
  let released = false;
  const isHeld = (): boolean => {
    if (released) return false;
    const h = readLockHolder(path);
    return h !== undefined && h !== 'unreadable' && h.nonce === nonce;
  };
  const releaseSync = (): void => {
    if (released) return;
    released = true;
    // A live holder on this host is never stolen from, so the file is ours: no read-back needed.
    unlinkQuiet(path);
  };
  return {
    path,
    nonce,
    stolen,
    isHeld,
    releaseSync,
    release: async () => releaseSync(),
  };
}

/**
 * Take an exclusive cross-process lock on `path` (the lock file itself; its directory must exist).
 * Waits with jittered backoff up to `timeoutMs`, then throws {@link LockedError}; with
 * `wait: false` throws at once. A holder that died (same host) is taken over safely.
 */
export async function acquireFileLock(path: string, options: FileLockOptions = {}): Promise<FileLock> {
  const wait = options.wait ?? true;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    const r = tryAcquireFileLock(path, options);
    if (!('holder' in r)) return r;
    if (!wait || Date.now() >= deadline) throw new LockedError(path, r.holder);
    // short first waits (a save holds the lock for about a millisecond), growing to 50 ms
    const delay = Math.min(50, 0.25 * 2 ** Math.min(attempt, 8)) * (0.5 + Math.random());
    await sleep(Math.max(0, Math.min(delay, deadline - Date.now())));
  }
}

/** Run `fn` holding the lock on `path`; the lock is released however `fn` ends. */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const lock = await acquireFileLock(path, options);
  try {
    return await fn();
  } finally {
    lock.releaseSync();
  }
}
