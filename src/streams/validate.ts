/** Validation shared by every EventLog backend. */
import { InvalidKeyError, ConcurrencyError, ValidationError } from '../core/errors.js';
import type { ExpectedRevision, NewEvent } from './event-log.js';

/** Longest stream name / event type accepted (characters). */
export const MAX_NAME_LENGTH = 512;

/** Stream names and event types: non-empty strings, at most 512 characters, no NUL, valid UTF-16. */
export function validateName(name: unknown, what: 'stream' | 'event type'): string {
  if (typeof name !== 'string') throw new InvalidKeyError(name, `${what} must be a string`);
  if (name.length === 0) throw new InvalidKeyError(name, `${what} must not be empty`);
  if (name.length > MAX_NAME_LENGTH) throw new InvalidKeyError(name, `${what} longer than ${MAX_NAME_LENGTH} characters`);
  if (name.includes('\0')) throw new InvalidKeyError(name, `${what} must not contain NUL`);
  if (!name.isWellFormed()) throw new InvalidKeyError(name, `${what} contains a lone surrogate`);
  return name;
}

/** Validate an ExpectedRevision value. */
export function validateExpected(expected: unknown): ExpectedRevision {
  if (expected === undefined) return 'any';
  if (expected === 'any' || expected === 'no_stream' || expected === 'stream_exists') return expected;
  if (typeof expected === 'number' && Number.isInteger(expected) && expected >= 0) return expected;
  throw new ValidationError(`expectedRevision must be an integer >= 0, 'any', 'no_stream' or 'stream_exists'; got ${String(expected)}`);
}

/** Throw ConcurrencyError when `actual` does not satisfy `expected`. */
export function checkExpected(stream: string, expected: ExpectedRevision, actual: number): void {
  const ok =
    expected === 'any' ||
    (expected === 'no_stream' && actual === 0) ||
    (expected === 'stream_exists' && actual > 0) ||
    (typeof expected === 'number' && expected === actual);
  if (!ok) throw new ConcurrencyError(expected, actual, `stream ${JSON.stringify(stream)}`);
}

/** Validate a batch of events (types, metadata shape). Data is validated by the codec on encode. */
export function validateEvents(events: unknown): readonly NewEvent[] {
  if (!Array.isArray(events)) throw new ValidationError('events must be an array');
  if (events.length === 0) throw new ValidationError('append needs at least one event');
  for (const e of events as NewEvent[]) {
    if (typeof e !== 'object' || e === null) throw new ValidationError('each event must be an object { type, data }');
    validateName(e.type, 'event type');
    if (e.metadata !== undefined && (typeof e.metadata !== 'object' || e.metadata === null || Array.isArray(e.metadata))) {
      throw new ValidationError('event metadata must be a plain object');
    }
    if (e.id !== undefined && (typeof e.id !== 'string' || e.id.length === 0 || e.id.length > 128)) {
      throw new ValidationError('event id must be a non-empty string of at most 128 characters');
    }
  }
  return events as readonly NewEvent[];
}
