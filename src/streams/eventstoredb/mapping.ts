/**
 * How dgent's numbers and events map onto EventStoreDB's, in one place.
 *
 * - Revisions: dgent counts from 1, the server from 0. dgent revision n is server revision n - 1.
 * - ExpectedRevision: n > 0 → server revision n - 1; 0 and 'no_stream' → NO_STREAM;
 *   'stream_exists' → STREAM_EXISTS; 'any' → ANY.
 * - Positions: the server's $all position is a pair (commit, prepare) of transaction-log byte
 *   offsets. For every event written through a gRPC append the two are equal and unique per event,
 *   so dgent's `position` is the commit position as a JS number (exact up to 2^53 - 1 bytes of log,
 *   about 9 PB; beyond that reads fail loudly instead of rounding). A position p given back to
 *   dgent means the server position { commit: p, prepare: p }.
 * - Events: data and metadata are stored as JSON (`application/json`) holding the dgent codec's
 *   tree, so Date, Map, Set, BigInt, Uint8Array, undefined, NaN and -0 round-trip and plain JSON
 *   stays plain JSON for other readers of the server. Event ids must be UUIDs on the server: a
 *   dgent id that is a lowercase UUID is used as is; any other id is stored as a name-based UUID
 *   (v5) and the original id travels in the metadata under `$dgentId`.
 * - Event types: the server reserves types starting with `$` for its system events (readers skip
 *   them), but dgent's own events use some (StreamAgent's `$state` and `$patch`). Such a type is
 *   stored escaped, as `~` + type (`~$state`), with the original type in the metadata under
 *   `$dgentType`; reading takes the type from there. Only events carrying that key are unescaped,
 *   so every event stored before (and any type written by other clients, `~` ones included) reads
 *   back as it was stored.
 */
import { createHash } from 'node:crypto';
import { ANY, NO_STREAM, STREAM_EXISTS, type AppendExpectedRevision, type EventData, type Position, type ResolvedEvent } from '@eventstore/db-client';
import { fromTree, toTree } from '../../core/codec.js';
import { CorruptionError, DgentError, ValidationError } from '../../core/errors.js';
import type { ExpectedRevision, NewEvent, RecordedEvent } from '../event-log.js';

/** The metadata key that carries a dgent event id that is not itself a lowercase UUID. */
export const ID_KEY = '$dgentId';
/** The metadata key that carries a dgent event type the server would take for a system type (see the file comment). */
export const TYPE_KEY = '$dgentType';
/** What an escaped type starts with on the server. */
export const TYPE_ESCAPE = '~';
/** Event type of the id-claim events (`$`-prefixed: a system type, hidden from every reader). */
export const CLAIM_TYPE = '$dgent-id';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Namespace of the name-based UUIDs made from dgent ids (fixed forever: stored ids depend on it). */
const NAMESPACE = Buffer.from('6f1c3d2e8a4b4c5d9e0f1a2b3c4d5e6f', 'hex');
const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/** dgent ExpectedRevision → the client's expected revision (server terms). */
export function toServerExpected(expected: ExpectedRevision): AppendExpectedRevision {
  if (expected === 'any') return ANY;
  if (expected === 'no_stream' || expected === 0) return NO_STREAM;
  if (expected === 'stream_exists') return STREAM_EXISTS;
  return BigInt(expected - 1);
}

/** A server revision (0-based) → dgent's (1-based). */
export function toDgentRevision(serverRevision: bigint): number {
  return Number(serverRevision) + 1;
}

/** A server commit position → dgent's numeric position (never rounded). */
export function toDgentPosition(commit: bigint): number {
  if (commit > BigInt(Number.MAX_SAFE_INTEGER)) throw new DgentError(`$all position ${commit} is beyond 2^53 - 1 and cannot be a JS number exactly`);
  return Number(commit);
}

/** dgent's numeric position → the server's position pair. */
export function toServerPosition(position: number): Position {
  const p = BigInt(position);
  return { commit: p, prepare: p };
}

/** The UUID under which a dgent id is stored: the id itself when it is a lowercase UUID, else a v5 UUID of it. */
export function serverIdOf(id: string): string {
  if (UUID_RE.test(id)) return id;
  const h = createHash('sha1').update(NAMESPACE).update(id, 'utf8').digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/** The client's EventData for one dgent event (encoding validates data and metadata: SerializationError with the path). */
export function encodeEvent(e: NewEvent, id: string): EventData {
  for (const k of [ID_KEY, TYPE_KEY]) if (e.metadata !== undefined && Object.hasOwn(e.metadata, k)) throw new ValidationError(`metadata key ${k} is reserved by EventStoreDBEventLog`);
  const meta = e.metadata === undefined ? {} : (toTree(e.metadata) as Record<string, unknown>);
  if (e.id !== undefined && e.id !== id) meta[ID_KEY] = e.id;
  let type = e.type;
  if (type.startsWith('$')) {
    meta[TYPE_KEY] = type;
    type = TYPE_ESCAPE + type;
  }
  // the client JSON.stringify-s data of any JSON type (its typings admit only objects, arrays and
  // strings); the codec's tree is never undefined, so a top-level undefined survives as a tag
  return ({ id, contentType: 'application/json', type, data: toTree(e.data), metadata: Object.keys(meta).length === 0 ? undefined : meta }) as EventData;
}

/** A resolved event of the client → RecordedEvent (stream name already without the log's prefix). */
export function toRecorded(r: ResolvedEvent, stream: string, where: string): RecordedEvent {
  const ev = r.event;
  if (ev === undefined) throw new CorruptionError('the server returned a resolved event without an event', where);
  const pos = ev.position;
  if (pos === undefined || pos.commit === 18446744073709551615n) {
    throw new DgentError(`the server sent no $all position for ${ev.streamId}@${ev.revision}: EventStoreDB before 22.6 does not send positions on stream reads; use 22.6 or later`);
  }
  if (pos.commit !== pos.prepare) {
    throw new CorruptionError(`event ${ev.id} has commit position ${pos.commit} != prepare position ${pos.prepare} (written in an explicit transaction?): dgent positions need one number per event`, where);
  }
  let metadata = EMPTY;
  let id = ev.id;
  let type = ev.type;
  if (ev.metadata !== undefined) {
    if (typeof ev.metadata !== 'object' || ev.metadata === null || ev.metadata instanceof Uint8Array || Array.isArray(ev.metadata)) {
      throw new CorruptionError(`event ${ev.id} has metadata that is not a JSON object`, where);
    }
    const raw = ev.metadata as Record<string, unknown>;
    if (typeof raw[ID_KEY] === 'string' || typeof raw[TYPE_KEY] === 'string') {
      const { [ID_KEY]: dgentId, [TYPE_KEY]: dgentType, ...rest } = raw;
      if (typeof dgentId === 'string') id = dgentId;
      else if (dgentId !== undefined) rest[ID_KEY] = dgentId;
      if (typeof dgentType === 'string') {
        if (ev.type !== TYPE_ESCAPE + dgentType) throw new CorruptionError(`event ${ev.id} of type ${JSON.stringify(ev.type)} says its dgent type is ${JSON.stringify(dgentType)}`, where);
        type = dgentType;
      }
      metadata = fromTree<Record<string, unknown>>(rest, where);
    } else {
      metadata = fromTree<Record<string, unknown>>(raw, where);
    }
  }
  return {
    id,
    stream,
    revision: toDgentRevision(ev.revision),
    position: toDgentPosition(pos.commit),
    type,
    data: ev.isJson ? fromTree(ev.data, where) : fromTree(toTree(ev.data), where),
    metadata,
    time: ev.created,
  };
}

/** A regular expression (same meaning in .NET and JavaScript) matching exactly `s`. */
export function exactRegex(s: string): string {
  return `^${s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$`;
}
