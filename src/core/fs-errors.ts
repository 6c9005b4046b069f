/**
 * File-system failures caused by the path a caller configured (a directory where a file belongs,
 * a file where a directory belongs, no permission) are ValidationError: retrying, or failing over
 * to another backend as `fallback()` does on BackendUnavailableError, cannot fix them. Everything
 * else (EIO, ENOSPC, EMFILE, ...) is the file system failing: BackendUnavailableError.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BackendUnavailableError, ValidationError } from './errors.js';

/** errno codes that say the configured path cannot be used as it is. */
const PATH_MISTAKES = new Set(['ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EACCES', 'EPERM']);

/** Whether a file-system error is a mistake in the configured path (see the file comment). */
export function isPathMistake(e: unknown): boolean {
  return PATH_MISTAKES.has((e as { code?: string } | undefined)?.code ?? '');
}

/** `what path: message` as a ValidationError (a path mistake) or a BackendUnavailableError. */
export function pathError(what: string, path: string, e: unknown, backend = 'file system'): ValidationError | BackendUnavailableError {
  const message = `${what} ${path}: ${(e as Error)?.message ?? String(e)}`;
  if (isPathMistake(e)) {
    const err = new ValidationError(`${backend}: ${message}; check the configured path`, [{ message: (e as { code: string }).code, path }]);
    (err as { cause?: unknown }).cause = e;
    return err;
  }
  return new BackendUnavailableError(backend, message, { cause: e });
}

/**
 * Create the directory that will hold `file` (and its parents) when missing, as `mkdir -p` does.
 * A path that cannot hold it (a parent is a file, no permission) is a ValidationError.
 */
export function ensureParentDir(file: string, backend = 'file system'): void {
  const dir = dirname(resolve(file));
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    // EEXIST from a recursive mkdir: the directory's own name is taken by a file
    const code = (e as { code?: string }).code;
    throw pathError('cannot create the directory', dir, code === 'EEXIST' ? Object.assign(e as Error, { code: 'ENOTDIR' }) : e, backend);
  }
}
