/** Errors of @eventstore/db-client → dgent errors. Anything not recognised is passed on unchanged. */
import { ErrorType, isCommandError } from '@eventstore/db-client';
import { AccessDeniedError, BackendUnavailableError, DgentError, ValidationError } from '../../core/errors.js';

const BACKEND = 'EventStoreDB';

/** Connection-level failures: the server is unreachable, went away, or did not answer in time. */
const UNAVAILABLE = new Set<string>([ErrorType.UNAVAILABLE, ErrorType.DEADLINE_EXCEEDED, ErrorType.CANCELLED, ErrorType.TIMEOUT, ErrorType.NOT_LEADER]);

/** Map a failure of the client (or of gRPC underneath it) to a dgent error. */
export function toDgentError(e: unknown, what: string): unknown {
  if (e instanceof DgentError) return e;
  if (e instanceof Error && isCommandError(e)) {
    if (UNAVAILABLE.has(e.type)) return new BackendUnavailableError(BACKEND, `${what}: ${e.message}`, { cause: e });
    if (e.type === ErrorType.ACCESS_DENIED) return new AccessDeniedError(`${what}: ${e.message}`);
    if (e.type === ErrorType.STREAM_DELETED) return new ValidationError(`${what}: the stream was deleted on the server (tombstoned)`);
    if (e.type === ErrorType.MAXIMUM_APPEND_SIZE_EXCEEDED) return new ValidationError(`${what}: ${e.message}`);
    return e;
  }
  // raw gRPC errors (e.g. from a channel that never connected) carry a numeric status code
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 14 || code === 4 || code === 1) return new BackendUnavailableError(BACKEND, `${what}: ${(e as Error).message}`, { cause: e });
  return e;
}
