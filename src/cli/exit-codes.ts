/**
 * The exit codes of `dgent` (documented in the README and `dgent --help`). Scripts branch on them,
 * so they never change meaning.
 */
import { ConcurrencyError, CorruptionError, DgentError, InvalidKeyError, LockedError, StateNotFoundError, ValidationError } from '../core/errors.js';

export const EXIT = Object.freeze({
  /** it worked (verify: the log is intact) */
  OK: 0,
  /** an unexpected failure (a bug or an error of a kind not listed here) */
  FAILURE: 1,
  /** bad usage: unknown command or option, bad argument, bad URL or DGENT_* variable, missing driver package */
  USAGE: 2,
  /** what was asked for does not exist: a stream, a key, a projection, the SQLite file or log directory of a command that only reads */
  NOT_FOUND: 3,
  /** the backend cannot be reached or is locked by another process */
  UNAVAILABLE: 4,
  /** the data is damaged: verify found problems, or a read met corrupt data */
  CORRUPT: 5,
  /** a conflict with what is stored: import into a log that already holds other events there */
  CONFLICT: 6,
  /** interrupted (Ctrl-C) */
  INTERRUPTED: 130,
});

/** A failure the CLI reports as one line with a chosen exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(e: unknown): number {
  if (e instanceof CliError) return e.exitCode;
  if (e instanceof ValidationError || e instanceof InvalidKeyError) return EXIT.USAGE;
  if (e instanceof StateNotFoundError) return EXIT.NOT_FOUND;
  if (e instanceof CorruptionError) return EXIT.CORRUPT;
  if (e instanceof ConcurrencyError) return EXIT.CONFLICT;
  if (e instanceof LockedError) return EXIT.UNAVAILABLE;
  if (e instanceof DgentError) {
    if (e.code === 'BACKEND_UNAVAILABLE') return EXIT.UNAVAILABLE;
    if (/needs the '[^']+' package/.test(e.message)) return EXIT.USAGE;
    return EXIT.FAILURE;
  }
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && /^(ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|ECONNRESET|EAI_AGAIN)$/.test(code)) return EXIT.UNAVAILABLE;
  return EXIT.FAILURE;
}

/** One line for stderr: the message without a stack, and its cause's when that says more. */
export function describeError(e: unknown): string {
  const err = e as { message?: unknown; cause?: { message?: unknown } } | undefined;
  let text = typeof err?.message === 'string' && err.message ? err.message : String(e);
  const code = (e as { code?: unknown })?.code;
  if (!(e instanceof DgentError) && !(e instanceof CliError) && typeof code === 'string' && !text.includes(code)) text = `${code}: ${text}`;
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
