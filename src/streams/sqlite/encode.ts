/** Validation and encoding of an append, done before it joins a group: bad input never delays other writers. */
import type { ExpectedRevision, NewEvent } from '../event-log.js';
import { validateEvents, validateExpected, validateName, withEventContext } from '../validate.js';
import { encode, prepare } from '../../core/codec.js';

/** One event, validated and encoded (the caller's objects are not referenced any more). */
export interface EncodedEvent {
  id: string | undefined;
  type: string;
  /** the codec's deeply frozen copy of the data, for inline hooks */
  value: unknown;
  data: string;
  /** null for empty metadata (most events): nothing to store or parse */
  metadata: string | null;
}

function encodeValue(v: unknown): { value: unknown; text: string } {
  const { value } = prepare(v);
  return { value, text: encode(value) };
}

/** One stream's part of an append, ready for the transaction. */
export interface EncodedAppend {
  stream: string;
  expected: ExpectedRevision;
  events: EncodedEvent[];
  /** some event carries a caller-given id: look ids up for the idempotent-retry rule */
  hasIds: boolean;
}

function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return Object.getOwnPropertySymbols(o).length > 0; // let the codec reject symbol keys
}

/** Validate and encode one stream's append (throws InvalidKeyError, ValidationError, SerializationError). */
export function encodeAppend(stream: unknown, events: unknown, expectedRevision: unknown): EncodedAppend {
  const name = validateName(stream, 'stream');
  const valid = validateEvents(events);
  const expected = validateExpected(expectedRevision);
  let hasIds = false;
  const encoded = withEventContext(name, valid, () =>
    valid.map((e: NewEvent): EncodedEvent => {
      if (e.id !== undefined) hasIds = true;
      const data = encodeValue(e.data);
      return { id: e.id, type: e.type, value: data.value, data: data.text, metadata: e.metadata !== undefined && hasKeys(e.metadata) ? encodeValue(e.metadata).text : null };
    }),
  );
  return { stream: name, expected, events: encoded, hasIds };
}
