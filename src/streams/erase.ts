/**
 * Erasure ("delete means delete", GDPR): a log with the `eraseStream` capability can redact the
 * events of one stream below a revision. A redacted event keeps its stream, revision, position, id
 * and time (revisions stay gapless, positions and checkpoints stay valid) but its type becomes
 * {@link ERASED_EVENT_TYPE} and its data and metadata are dropped, so no value survives in the log.
 * Projections that do not handle that type skip it, so a rebuild cannot resurrect erased values.
 * Added for the Store's `purge` (memory, SQLite, PostgreSQL and Redis logs).
 */
import { ValidationError, shown } from '../core/errors.js';
import { validateName } from './validate.js';

/** The type an erased event carries from then on. */
export const ERASED_EVENT_TYPE = 'dgent.erased';

/** Capability: redact the events of a stream below a revision (see the file comment). */
export interface StreamEraser {
  /** redact the events of `stream` with revision < `beforeRevision`; resolves to how many were redacted now */
  eraseStream(stream: string, beforeRevision: number): Promise<number>;
}

/** Check the arguments of eraseStream (ValidationError / InvalidKeyError). */
export function validateErase(stream: unknown, beforeRevision: unknown): { stream: string; before: number } {
  const s = validateName(stream as string, 'stream');
  if (typeof beforeRevision !== 'number' || !Number.isInteger(beforeRevision) || beforeRevision < 1) {
    throw new ValidationError(`eraseStream: beforeRevision must be an integer >= 1, got ${shown(beforeRevision)}`);
  }
  return { stream: s, before: beforeRevision };
}
