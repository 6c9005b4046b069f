/**
 * Opening SQLite connections and turning SQLite failures into dgent errors.
 *
 * SQLITE_BUSY never reaches a caller: SQLite's own busy handler waits a few milliseconds (blocking
 * the thread, so it is kept short), then {@link withBusyRetry} backs off asynchronously until the
 * log's `busyTimeoutMs` is used up and only then raises BackendUnavailableError. Waiting in
 * JavaScript rather than in SQLite keeps the event loop free, so another log instance of this
 * process can finish the transaction we are waiting for.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { SqliteDatabase } from './driver-types.js';
import { BackendUnavailableError, CorruptionError, DgentError, ValidationError } from '../../core/errors.js';
import { backoffMs, sleep } from '../../core/mutex.js';
import { ensureParentDir, isPathMistake, pathError } from '../../core/fs-errors.js';

/** One better-sqlite3 connection (typed by the slice of its API dgent uses, see driver-types.ts). */
export type { SqliteDatabase };

/** How long SQLite's own (thread-blocking) busy handler may wait per attempt. */
const BLOCKING_BUSY_MS = 20;

const CORRUPT = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX', 'SQLITE_CORRUPT_SEQUENCE', 'SQLITE_CORRUPT_VTAB']);

function codeOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** SQLITE_BUSY (and its extended codes) or SQLITE_LOCKED: another connection holds the lock. */
export function isBusy(e: unknown): boolean {
  const code = codeOf(e);
  return code !== undefined && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** A path SQLite opens as a file (not `:memory:`, not a `file:` URI). */
function isFilePath(path: string): boolean {
  return path !== '' && path !== ':memory:' && !path.startsWith('file:');
}

/** `path` names a directory: a configuration mistake (ValidationError), before SQLite says only SQLITE_CANTOPEN. */
function directoryMistake(path: string): ValidationError | undefined {
  if (!isFilePath(path) || statSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) return undefined;
  return new ValidationError(`SQLite: ${path} is a directory; path must name a database file (e.g. ${resolve(path, 'events.db')})`, [{ message: 'is a directory', path }]);
}

/**
 * Why SQLite could not open `path` when the path is the reason (SQLITE_CANTOPEN says only "unable
 * to open database file"): a directory, a parent that is not a directory, or a folder or file this
 * process may not write. Undefined when the path looks usable (then it is the file system failing).
 */
function cantOpenMistake(path: string, cause: unknown): ValidationError | undefined {
  if (!isFilePath(path)) return undefined;
  const dir = directoryMistake(path);
  if (dir) return Object.assign(dir, { cause });
  for (const [target, mode, what] of [
    [dirname(resolve(path)), constants.W_OK | constants.X_OK, 'cannot create files in the directory of'],
    [path, constants.R_OK | constants.W_OK, 'cannot read and write'],
  ] as const) {
    try {
      accessSync(target, mode);
    } catch (e) {
      // ENOENT: a new file (its folder decides) or a folder gone since: not the configuration
      if (isPathMistake(e)) return Object.assign(pathError(what, path, e, 'SQLite') as ValidationError, { cause });
    }
  }
  return undefined;
}

/**
 * Map an error thrown by better-sqlite3 to a dgent error: a damaged file becomes CorruptionError
 * (the file is left alone), a path that cannot be opened for a reason in the configuration (a
 * directory, no permission) ValidationError, other I/O failures BackendUnavailableError (which
 * `fallback()` fails over on). dgent's own errors (and errors thrown by user hooks) pass through
 * unchanged.
 */
export function toDgentError(e: unknown, path: string): unknown {
  if (e instanceof DgentError) return e;
  const code = codeOf(e);
  if (code === undefined || !code.startsWith('SQLITE_')) return e;
  if (code === 'SQLITE_CANTOPEN' || code.startsWith('SQLITE_CANTOPEN_')) {
    const mistake = cantOpenMistake(path, e);
    if (mistake) return mistake;
  }
  if (CORRUPT.has(code)) return new CorruptionError(`SQLite file is damaged or not a database (${code})`, path, { cause: e });
  if (code === 'SQLITE_CONSTRAINT' || code.startsWith('SQLITE_CONSTRAINT_') || code === 'SQLITE_ERROR' || code === 'SQLITE_MISUSE' || code === 'SQLITE_RANGE') return e;
  return new BackendUnavailableError('SQLite', `${(e as Error).message} (${code}, ${path})`, { cause: e });
}

/**
 * Run `fn`, retrying while SQLite reports the database busy, with jittered exponential backoff,
 * until `timeoutMs` has passed; then BackendUnavailableError. Other errors are mapped by
 * {@link toDgentError}.
 */
export async function withBusyRetry<T>(fn: () => T, timeoutMs: number, path: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return fn();
    } catch (e) {
      if (!isBusy(e)) throw toDgentError(e, path);
      if (Date.now() >= deadline) {
        throw new BackendUnavailableError('SQLite', `database stayed locked for ${timeoutMs} ms (busyTimeoutMs) at ${path}`, { cause: e });
      }
      await sleep(Math.max(1, backoffMs(attempt, 1, 50)));
    }
  }
}

/** Settings every connection of a log gets. */
export interface ConnectionSettings {
  path: string;
  synchronous: 'NORMAL' | 'FULL';
  busyTimeoutMs: number;
}

/**
 * Open one connection. The writer switches the file to WAL (persistent in the file, so readers
 * and other processes follow); `synchronous` is per connection and matters only where commits
 * happen. Opening itself can meet a busy file (WAL recovery by another process): retried.
 */
export async function openConnection(s: ConnectionSettings, role: 'writer' | 'reader'): Promise<SqliteDatabase> {
  if (role === 'writer' && isFilePath(s.path)) {
    ensureParentDir(s.path, 'SQLite'); // a path mistake is a ValidationError
  }
  const mistake = directoryMistake(s.path);
  if (mistake) throw mistake;
  let db: SqliteDatabase;
  try {
    db = new Database(s.path, { timeout: Math.min(BLOCKING_BUSY_MS, s.busyTimeoutMs) });
  } catch (e) {
    throw toDgentError(e, s.path);
  }
  try {
    await withBusyRetry(
      () => {
        if (role === 'writer') {
          const mode = db.pragma('journal_mode = WAL', { simple: true });
          if (mode !== 'wal') throw new BackendUnavailableError('SQLite', `cannot switch ${s.path} to WAL mode (journal_mode is ${String(mode)})`);
          db.pragma(`synchronous = ${s.synchronous}`);
        } else {
          // reads only: a bug can never write through this connection
          db.pragma('query_only = 1');
        }
      },
      s.busyTimeoutMs,
      s.path,
    );
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}
