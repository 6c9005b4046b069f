/** Validation shared by every EventLog backend. */
import { InvalidKeyError, ConcurrencyError, SerializationError, ValidationError, shown } from '../core/errors.js';
import { encode } from '../core/codec.js';
import type { AppendResult, ExpectedRevision, NewEvent, ReadAllOptions, ReadOptions, SubscribeOptions } from './event-log.js';

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
  throw new ValidationError(`expectedRevision must be an integer >= 0, 'any', 'no_stream' or 'stream_exists'; got ${shown(expected)}`);
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

/**
 * Run the encoding of one stream's batch (`encodeBatch`); a SerializationError it throws is
 * replaced by one that says which event it was: its index in the batch, its type, the stream, and
 * the path of the bad field from the batch (`$[2].data.tools[0].handler`). The event is found again
 * only on that error path, so a batch that encodes costs nothing extra.
 */
export function withEventContext<T>(stream: string, events: readonly NewEvent[], encodeBatch: () => T): T {
  try {
    return encodeBatch();
  } catch (e) {
    throw locateSerializationError(stream, events, e);
  }
}

/** The SerializationError `e` restated for the first event of `events` that cannot be encoded (else `e`). */
export function locateSerializationError(stream: string, events: readonly NewEvent[], e: unknown): unknown {
  if (!(e instanceof SerializationError)) return e;
  for (const [i, event] of events.entries()) {
    for (const field of ['data', 'metadata'] as const) {
      if (field === 'metadata' && event.metadata === undefined) continue;
      try {
        encode(event[field]);
      } catch (inner) {
        if (!(inner instanceof SerializationError)) return e;
        const reason = inner.message.endsWith(` at ${inner.path}`) ? inner.message.slice(0, -(inner.path.length + 4)) : inner.message;
        return new SerializationError(
          `cannot append event ${i} (type ${JSON.stringify(event.type)}) of the batch for stream ${JSON.stringify(stream)}: ${reason}`,
          `$[${i}].${field}${inner.path.replace(/^\$/, '')}`,
          { cause: inner },
        );
      }
    }
  }
  return e;
}

/** A duration option: a finite number of ms >= 0, or `fallback` when not given. */
export function nonNegativeMs(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !(v >= 0) || v === Infinity) throw new ValidationError(`${what} must be a finite number >= 0, got ${shown(v)}`);
  return v;
}

function nonNegativeInt(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ValidationError(`${what} must be an integer >= 0, got ${shown(v)}`);
  return v;
}

/** {@link ReadOptions} with defaults applied: revisions from `from` towards `to`, both inclusive. */
export interface ReadWindow {
  direction: 'forward' | 'backward';
  /** forward: lowest revision (default 1); backward: highest revision (default Infinity = the stream's head) */
  from: number;
  /** forward: highest revision (default Infinity); backward: lowest revision (default 1) */
  to: number;
  /** at most this many events (default Infinity) */
  limit: number;
}

/** Validate and normalise read options; bad values throw ValidationError. */
export function validateReadOptions(options: ReadOptions | undefined): ReadWindow {
  const o = options ?? {};
  const direction = o.direction ?? 'forward';
  if (direction !== 'forward' && direction !== 'backward') throw new ValidationError(`direction must be 'forward' or 'backward', got ${shown(direction)}`);
  const limit = nonNegativeInt(o.limit, 'limit', Infinity);
  if (direction === 'forward') {
    return { direction, from: Math.max(1, nonNegativeInt(o.fromRevision, 'fromRevision', 1)), to: nonNegativeInt(o.toRevision, 'toRevision', Infinity), limit };
  }
  return { direction, from: nonNegativeInt(o.fromRevision, 'fromRevision', Infinity), to: Math.max(1, nonNegativeInt(o.toRevision, 'toRevision', 1)), limit };
}

/** {@link ReadAllOptions} with defaults applied. */
export interface ReadAllWindow {
  /** exclusive: events with position > fromPosition */
  fromPosition: number;
  limit: number;
  /** undefined = every type */
  types: ReadonlySet<string> | undefined;
}

/** Validate and normalise readAll options; bad values throw ValidationError / InvalidKeyError. */
export function validateReadAllOptions(options: ReadAllOptions | undefined): ReadAllWindow {
  const o = options ?? {};
  let types: Set<string> | undefined;
  if (o.types !== undefined) {
    if (!Array.isArray(o.types)) throw new ValidationError('types must be an array of event types');
    types = new Set(o.types.map((t: unknown) => validateName(t, 'event type')));
  }
  return { fromPosition: nonNegativeInt(o.fromPosition, 'fromPosition', 0), limit: nonNegativeInt(o.limit, 'limit', Infinity), types };
}

/** Validate subscribe options (fromPosition default 0, optional stream name). */
export function validateSubscribeOptions(options: SubscribeOptions | undefined): { fromPosition: number; stream: string | undefined } {
  const o = options ?? {};
  return { fromPosition: nonNegativeInt(o.fromPosition, 'fromPosition', 0), stream: o.stream === undefined ? undefined : validateName(o.stream, 'stream') };
}

/** Where an already stored event id lives. */
export interface StoredEventRef {
  stream: string;
  revision: number;
  position: number;
}

/**
 * The duplicate event id rule shared by every backend (idempotent retry, as in EventStoreDB).
 * Event ids are unique across the whole log.
 *
 * - No id of the batch is stored yet: append normally (returns undefined).
 * - Every event carries an id and they are exactly the ids stored in `stream` at consecutive
 *   revisions, in batch order (the caller retried an append whose answer it lost): nothing is
 *   appended, and the original result (revision and position of the last of those events) is
 *   returned, whatever `expectedRevision` says. Data and types are not compared.
 * - Anything else (an id repeated inside the batch, some ids stored and some new, an id stored in
 *   another stream or out of order): ValidationError naming the id; nothing is appended.
 *
 * `lookup` answers for ids of the batch (backends fetch them in one query first).
 */
export function resolveEventIds(stream: string, events: readonly NewEvent[], lookup: (id: string) => StoredEventRef | undefined): AppendResult | undefined {
  const seen = new Set<string>();
  let found = 0;
  let prev: StoredEventRef | undefined;
  let retry = true;
  for (const [i, e] of events.entries()) {
    if (e.id === undefined) {
      retry = false;
      continue;
    }
    if (seen.has(e.id)) throw new ValidationError(`event id ${JSON.stringify(e.id)} appears twice in one append`, [{ message: 'duplicate id', path: `events[${i}].id` }]);
    seen.add(e.id);
    const ref = lookup(e.id);
    if (ref === undefined) {
      retry = false;
      continue;
    }
    found++;
    if (ref.stream !== stream || (prev !== undefined && ref.revision !== prev.revision + 1)) retry = false;
    prev = ref;
  }
  if (found === 0) return undefined;
  if (retry && found === events.length && prev) return { revision: prev.revision, position: prev.position };
  const dup = events.find((e) => e.id !== undefined && lookup(e.id) !== undefined)!;
  const ref = lookup(dup.id!)!;
  throw new ValidationError(
    `event id ${JSON.stringify(dup.id)} already exists (stream ${JSON.stringify(ref.stream)}, revision ${ref.revision}); only an exact retry of a stored batch is accepted`,
    [{ message: 'duplicate id', path: `events[${events.indexOf(dup)}].id` }],
  );
}
