/**
 * File-system helpers for durable writes: write-all loops, fsync off the event loop, and the
 * temp-file naming that lets a later writer recognise (and remove) what a killed writer left.
 *
 * Metadata calls (open, rename, unlink, stat) are synchronous here: they take microseconds and
 * each async hop through the thread pool costs more than the call itself. The calls that take
 * milliseconds, `fsync`/`fdatasync`, run on the thread pool.
 */
import { readdirSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { InvalidKeyError, ValidationError, shown, type BackendUnavailableError } from './errors.js';
import { pathError } from './fs-errors.js';
import { fsLayer } from './fs-layer.js';

/**
 * Wrap a file-system failure naming the file: BackendUnavailableError, or ValidationError when the
 * configured path cannot be used as it is (a directory where a file belongs, no permission; see fs-errors.ts).
 */
export function fsError(what: string, path: string, e: unknown): BackendUnavailableError | ValidationError {
  return pathError(what, path, e);
}

/** `fsync(fd)` on the thread pool. */
export function fsyncAsync(fd: number, path: string): Promise<void> {
  return new Promise((res, rej) => fsLayer.fsync(fd, (e) => (e ? rej(fsError('cannot fsync', path, e)) : res())));
}

/** `fdatasync(fd)` on the thread pool: data and the size, not the timestamps. */
export function fdatasyncAsync(fd: number, path: string): Promise<void> {
  return new Promise((res, rej) => fsLayer.fdatasync(fd, (e) => (e ? rej(fsError('cannot fdatasync', path, e)) : res())));
}

/** Write the whole buffer (writeSync may write less than asked). */
export function writeAllSync(fd: number, buf: Uint8Array, position?: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = fsLayer.writeSync(fd, buf, off, buf.length - off, position === undefined ? null : position + off);
    off += n;
  }
}

/**
 * Resolve a caller's file path and check it can name a file: no NUL bytes, not a directory
 * name. Returns the absolute path, its directory and its base name; every derived file is
 * `dir + '/' + something(base)`, so derived names cannot leave the directory.
 */
export function checkFilePath(path: unknown): { path: string; dir: string; base: string } {
  // a missing or mistyped option is a configuration mistake; a string that cannot name a file is a bad name
  if (typeof path !== 'string' || path.length === 0) throw new ValidationError(`a file path must be a non-empty string, got ${shown(path)}`);
  if (path.includes('\0')) throw new InvalidKeyError(path, 'a file path must not contain NUL bytes');
  if (/[/\\]$/.test(path)) throw new InvalidKeyError(path, 'a file path must name a file, not a directory');
  const abs = resolve(path);
  const base = basename(abs);
  if (base === '' || base === '.' || base === '..') throw new InvalidKeyError(path, 'a file path must name a file');
  return { path: abs, dir: dirname(abs), base };
}

const NONCE_CHARS = /^[0-9a-z-]+$/;
const processNonce = randomBytes(5).toString('hex');
let tempCounter = 0;

/** A temp file name for `base`, unique across processes: `.<base>.<nonce>.tmp`. */
export function tempName(base: string): string {
  return `.${base}.${processNonce}-${(tempCounter++).toString(36)}.tmp`;
}

/** True when `name` is a temp file made by {@link tempName} for `base`. */
export function isTempOf(name: string, base: string): boolean {
  const prefix = `.${base}.`;
  if (!name.startsWith(prefix) || !name.endsWith('.tmp')) return false;
  return NONCE_CHARS.test(name.slice(prefix.length, -4));
}

/**
 * Remove the temp files of `base` in `dir`. Only safe while holding the lock that every temp
 * writer holds: then no live writer owns one. Returns the names removed.
 */
export function removeTempFiles(dir: string, base: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    if (!isTempOf(name, base)) continue;
    try {
      fsLayer.unlinkSync(`${dir}/${name}`);
      removed.push(name);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError('cannot remove temp file', `${dir}/${name}`, e);
    }
  }
  return removed;
}

/** Open a directory for fsync (of renames and creations in it). */
export function openDirSync(dir: string): number {
  return fsLayer.openSync(dir, constants.O_RDONLY | (constants.O_DIRECTORY ?? 0));
}

/**
 * Atomically replace `path` with `data`: write a temp file in the same directory, fsync it,
 * rename it over `path`, fsync the directory (`dirFd`). A crash at any point leaves either the
 * old or the new content, plus at most a temp file that {@link removeTempFiles} clears.
 * `alsoSync` runs concurrently with the temp file's fsync (e.g. the history file's fdatasync).
 */
export async function replaceFileAtomic(dir: string, dirFd: number, base: string, data: Uint8Array, alsoSync?: () => Promise<void>): Promise<void> {
  const tmp = `${dir}/${tempName(base)}`;
  let fd: number;
  try {
    fd = fsLayer.openSync(tmp, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o644);
  } catch (e) {
    throw fsError('cannot create', tmp, e);
  }
  let renamed = false;
  try {
    try {
      writeAllSync(fd, data);
    } catch (e) {
      throw fsError('cannot write', tmp, e);
    }
    if (alsoSync) await Promise.all([fsyncAsync(fd, tmp), alsoSync()]);
    else await fsyncAsync(fd, tmp);
    fsLayer.closeSync(fd);
    fd = -1;
    try {
      fsLayer.renameSync(tmp, `${dir}/${base}`);
    } catch (e) {
      throw fsError('cannot rename onto', `${dir}/${base}`, e);
    }
    renamed = true;
    await fsyncAsync(dirFd, dir);
  } finally {
    if (fd >= 0) fsLayer.closeSync(fd);
    if (!renamed) {
      try {
        fsLayer.unlinkSync(tmp);
      } catch {
        // the original error is what the caller needs; a leftover temp is cleared by the next writer
      }
    }
  }
}
