/**
 * The error hierarchy of dgent. Every error thrown by the library is a {@link DgentError} with a
 * stable `code`, so callers can branch on `err.code` or `instanceof` without parsing messages.
 *
 * @example
 * ```ts
 * try { await agent.save(next, { expectedVersion: 3 }); }
 * catch (e) { if (e instanceof ConcurrencyError) console.log(e.expected, e.actual); }
 * ```
 */

/** Stable machine-readable codes, one per error class. */
export type DgentErrorCode =
  | 'DGENT_ERROR'
  | 'STATE_NOT_FOUND'
  | 'CONCURRENCY'
  | 'SERIALIZATION'
  | 'VALIDATION'
  | 'STATE_TOO_LARGE'
  | 'CORRUPTION'
  | 'BACKEND_UNAVAILABLE'
  | 'ACCESS_DENIED'
  | 'INVALID_KEY'
  | 'LOCKED'
  | 'CLOSED';

/** Base class of every error raised by dgent. */
export class DgentError extends Error {
  readonly code: DgentErrorCode;
  constructor(message: string, code: DgentErrorCode = 'DGENT_ERROR', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** `load()` on an agent (or key, or stream) that was never saved. */
export class StateNotFoundError extends DgentError {
  readonly key: string | undefined;
  constructor(message = 'no state has been saved yet', key?: string) {
    super(message, 'STATE_NOT_FOUND');
    this.key = key;
  }
}

/**
 * An optimistic-concurrency check failed: the writer expected one version/revision and found
 * another. `expected` is what the caller passed (a number or an ExpectedRevision keyword),
 * `actual` is what the backend holds now (0 = nothing stored).
 */
export class ConcurrencyError extends DgentError {
  readonly expected: number | string;
  readonly actual: number;
  constructor(expected: number | string, actual: number, subject = 'state') {
    super(`concurrency conflict on ${subject}: expected ${String(expected)}, actual ${actual}; reload and retry`, 'CONCURRENCY');
    this.expected = expected;
    this.actual = actual;
  }
}

/** A value cannot be encoded: `path` points at the offending field, e.g. `$.tools[2].handler`. */
export class SerializationError extends DgentError {
  readonly path: string;
  constructor(message: string, path: string, options?: { cause?: unknown }) {
    super(`${message} at ${path}`, 'SERIALIZATION', options);
    this.path = path;
  }
}

/** Input rejected by a schema, a migration or an argument check. `issues` lists what failed. */
export class ValidationError extends DgentError {
  readonly issues: readonly { message: string; path?: string | undefined }[];
  constructor(message: string, issues: readonly { message: string; path?: string | undefined }[] = []) {
    super(message, 'VALIDATION');
    this.issues = issues;
  }
}

/** An encoded state exceeds a size limit. Sizes are in bytes of the encoded UTF-8 form. */
export class StateTooLargeError extends DgentError {
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(`state is ${size} bytes encoded, over the limit of ${limit} bytes`, 'STATE_TOO_LARGE');
    this.size = size;
    this.limit = limit;
  }
}

/** Stored data cannot be read back. dgent never "starts fresh" over it: the file is left in place. */
export class CorruptionError extends DgentError {
  readonly location: string | undefined;
  constructor(message: string, location?: string, options?: { cause?: unknown }) {
    super(location ? `${message} (${location})` : message, 'CORRUPTION', options);
    this.location = location;
  }
}

/** The backend (server, file system) cannot be reached or went away mid-operation. */
export class BackendUnavailableError extends DgentError {
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super(`${backend} unavailable: ${message}`, 'BACKEND_UNAVAILABLE', options);
    this.backend = backend;
  }
}

/** An `authorize` hook refused the operation. */
export class AccessDeniedError extends DgentError {
  readonly principal: string | undefined;
  readonly operation: string | undefined;
  constructor(message: string, principal?: string, operation?: string) {
    super(message, 'ACCESS_DENIED');
    this.principal = principal;
    this.operation = operation;
  }
}

/** A key, stream name, table name or other identifier is not acceptable. */
export class InvalidKeyError extends DgentError {
  readonly key: string;
  /** `what` names what is invalid in the message: `'key'` (default) or `'namespace'` */
  constructor(key: unknown, reason: string, what: 'key' | 'namespace' = 'key') {
    const shown = typeof key === 'string' ? JSON.stringify(key.length > 80 ? key.slice(0, 80) + '…' : key) : String(key);
    super(`invalid ${what} ${shown}: ${reason}`, 'INVALID_KEY');
    this.key = typeof key === 'string' ? key : String(key);
  }
}

/** A resource is held by another writer (e.g. a file lock) and the caller chose not to wait. */
export class LockedError extends DgentError {
  readonly resource: string;
  readonly holder: string | undefined;
  constructor(resource: string, holder?: string) {
    super(`${resource} is locked${holder ? ` by ${holder}` : ''}`, 'LOCKED');
    this.resource = resource;
    this.holder = holder;
  }
}

/** An operation on an agent or log that was closed. */
export class ClosedError extends DgentError {
  constructor(what: string) {
    super(`${what} is closed`, 'CLOSED');
  }
}

/** True when `e` is a dgent error (optionally with the given code). */
export function isDgentError(e: unknown, code?: DgentErrorCode): e is DgentError {
  return e instanceof DgentError && (code === undefined || e.code === code);
}

/**
 * A value as an error message shows it: strings quoted (`got "10"`, not `got 10`, which reads like
 * a number), long ones cut; objects by their kind only (an options object put in the wrong place
 * may hold a password: its contents stay out of messages and logs).
 */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value.length > 78 ? `${JSON.stringify(value.slice(0, 75)).slice(0, -1)}..."` : JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Date) return `a Date (${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  if (value !== null && typeof value === 'object') return Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null ? 'an object' : `a ${value.constructor?.name ?? 'object'}`;
  return String(value);
}
