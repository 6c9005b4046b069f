/**
 * Keyed events: what the Store appends and the built-in KV, versions and audit views fold.
 *
 * - One stream per key, `kv:<namespace>/<key>`, so a key's version IS its stream's revision and
 *   per-key optimistic concurrency is the log's `expectedRevision`. Namespace events live in
 *   `kv:<namespace>` (no `/`: namespaces never contain `/`, `:` or `*`, so both parse back).
 * - Every payload carries its schema version `v`. Old payloads are upcast on read ({@link UPCASTERS}),
 *   the log is never rewritten; a payload newer than this code is a CorruptionError, not a guess.
 * - Event metadata: `actor`, `operation` and, for the events of one atomic append, a shared `tx`.
 *   Times come from the log (`RecordedEvent.time`); expiries are absolute epoch ms.
 * - Values travel as values: the log encodes them with the codec (Date, Map, Set, BigInt, key
 *   order round-trip), and the builders validate them first (SerializationError with the path).
 *
 * @example
 * ```ts
 * const e = keyedEvents.set({ value: { name: 'Ada' }, expiresAt: null }, { actor: 'u1', operation: 'set' });
 * await log.append(keyStream('users', 'u1'), [e], { expectedRevision: 'no_stream' });
 * ```
 */
import { createHash } from 'node:crypto';
import type { Patch } from 'immer';
import { prepare } from '../core/codec.js';
import { CorruptionError, InvalidKeyError, ValidationError, shown } from '../core/errors.js';
import type { NewEvent, RecordedEvent } from '../streams/event-log.js';
import { ERASED_EVENT_TYPE } from '../streams/erase.js';
import { MAX_NAME_LENGTH } from '../streams/validate.js';

/** Prefix of every keyed stream. */
export const KV_STREAM_PREFIX = 'kv:';
/** Longest namespace accepted (characters). */
export const MAX_NAMESPACE_LENGTH = 128;
/** The payload schema version this code writes. */
export const KEYED_SCHEMA_VERSION = 1;

/** The keyed event types. */
export const KEYED = Object.freeze({
  set: 'kv.set',
  patched: 'kv.patched',
  incremented: 'kv.incremented',
  metadataSet: 'kv.metadata.set',
  metadataMerged: 'kv.metadata.merged',
  deleted: 'kv.deleted',
  expired: 'kv.expired',
  purged: 'kv.purged',
  namespaceCreated: 'kv.namespace.created',
  namespaceDeleted: 'kv.namespace.deleted',
} as const);
export type KeyedEventType = (typeof KEYED)[keyof typeof KEYED];
/** Every keyed event type, for a projection's `handles`. */
export const KEYED_EVENT_TYPES: readonly KeyedEventType[] = Object.freeze(Object.values(KEYED));

/**
 * Relationship events (`subject -predicate-> object`, both Store keys). They live in the relation's
 * own stream, `rel:<sha256 of the triple>` ({@link relationStream}), so a relation's version is its
 * stream's revision; they are not in {@link KEYED_EVENT_TYPES} (the KV and versions views do not
 * fold them). {@link toKeyedEvent} reads them as events of the subject key.
 */
export const RELATION = Object.freeze({
  added: 'kv.relation.added',
  removed: 'kv.relation.removed',
} as const);
export type RelationEventType = (typeof RELATION)[keyof typeof RELATION];
/** The relationship event types. */
export const RELATION_EVENT_TYPES: readonly RelationEventType[] = Object.freeze(Object.values(RELATION));
/** Prefix of every relation stream. */
export const RELATION_STREAM_PREFIX = 'rel:';
/** Longest predicate accepted (characters). */
export const MAX_PREDICATE_LENGTH = 256;

export type Metadata = Readonly<Record<string, unknown>>;
/** `kv.set`: the whole value; `metadata` replaces the key's metadata when given (kept when absent); `expiresAt` null = never. */
export interface SetData { v: 1; value: unknown; metadata?: Metadata | undefined; expiresAt: number | null }
/** `kv.patched`: immer patches against the current value (only changed fields travel). */
export interface PatchedData { v: 1; patches: readonly Patch[] }
/** `kv.incremented`: add `by` to the number at `field` (dotted path; the whole value when absent); a missing number counts as 0. */
export interface IncrementedData { v: 1; by: number; field?: string | undefined }
/** `kv.metadata.set` (replace) and `kv.metadata.merged` (shallow merge). */
export interface MetadataData { v: 1; metadata: Metadata }
/** `kv.deleted`, `kv.purged` (no data at all), `kv.namespace.created`, `kv.namespace.deleted` (also drops the namespace's keys). */
export interface EmptyData { v: 1 }
/** `kv.expired`: the expiry the sweeper acted on. */
export interface ExpiredData { v: 1; expiresAt: number }

/** A Store key: its namespace and key. */
export interface KeyRef { namespace: string; key: string }
/** `kv.relation.added` / `kv.relation.removed`: the relation `subject -predicate-> object`. */
export interface RelationData { v: 1; subject: KeyRef; predicate: string; object: KeyRef }

/** What a writer says about an event: who, what operation, which transaction. */
export interface KeyedMeta { actor?: string | undefined; operation?: string | undefined; tx?: string | undefined }

interface Base { namespace: string; version: number; position: number; time: number; actor: string | null; operation: string; tx: string | null }
/** A keyed event as the views read it: parsed stream, upcast payload, flattened metadata. */
export type KeyedEvent = Base &
  (
    | { type: typeof KEYED.set; key: string; data: SetData }
    | { type: typeof KEYED.patched; key: string; data: PatchedData }
    | { type: typeof KEYED.incremented; key: string; data: IncrementedData }
    | { type: typeof KEYED.metadataSet | typeof KEYED.metadataMerged; key: string; data: MetadataData }
    | { type: typeof KEYED.deleted | typeof KEYED.purged; key: string; data: EmptyData }
    | { type: typeof KEYED.expired; key: string; data: ExpiredData }
    | { type: typeof KEYED.namespaceCreated | typeof KEYED.namespaceDeleted; key: null; data: EmptyData }
    | { type: RelationEventType; key: string; data: RelationData }
  );

/**
 * An erased event of a key's stream: what a purge leaves of the key's earlier events in the log
 * (streams/erase.ts: type `dgent.erased`, no data; stream, revision, position and time kept). Only
 * the KV view reads it, as "the key's namespace exists from this time" (every event of a key
 * stream does, see views/plan.ts), so a rebuild after a purge keeps the namespace the purged key
 * created, with its creation time.
 */
export interface ErasedKeyEvent { type: typeof ERASED_EVENT_TYPE; namespace: string; key: string; version: number; position: number; time: number }

/** A recorded `dgent.erased` event of a key stream as an {@link ErasedKeyEvent}; undefined for any other event (also erased events of other streams). */
export function toErasedKeyEvent(e: RecordedEvent): ErasedKeyEvent | undefined {
  if (e.type !== ERASED_EVENT_TYPE) return undefined;
  const s = parseKeyedStream(e.stream);
  if (s === undefined || s.key === null) return undefined;
  return { type: ERASED_EVENT_TYPE, namespace: s.namespace, key: s.key, version: e.revision, position: e.position, time: e.time.getTime() };
}

/** Upcasters per type: `[type][n]` turns a version-n payload into version n + 1. None needed yet (all types are at 1). */
export type Upcasters = Readonly<Record<string, Readonly<Record<number, (data: Record<string, unknown>) => Record<string, unknown>>>>>;
export const UPCASTERS: Upcasters = Object.freeze({});

/** Namespaces: 1-128 characters, no `/`, `:`, `*`, NUL or lone surrogates. */
export function validateNamespace(namespace: unknown): string {
  // every read and write validates its namespace: the few a program uses are remembered (a regex
  // test and a well-formedness scan took ~0.25 µs, 6% of a SQLite Store.get)
  if (typeof namespace === 'string' && validNamespaces.has(namespace)) return namespace;
  const invalid = (reason: string) => new InvalidKeyError(namespace, reason, 'namespace');
  if (typeof namespace !== 'string') throw invalid('a namespace must be a string');
  if (namespace.length === 0) throw invalid('a namespace must not be empty');
  if (namespace.length > MAX_NAMESPACE_LENGTH) throw invalid(`longer than ${MAX_NAMESPACE_LENGTH} characters`);
  if (NAMESPACE_FORBIDDEN.test(namespace)) throw invalid("a namespace must not contain '/', ':', '*' or NUL");
  if (!namespace.isWellFormed()) throw invalid('contains a lone surrogate');
  if (validNamespaces.size >= 1024) validNamespaces.clear();
  validNamespaces.add(namespace);
  return namespace;
}
const NAMESPACE_FORBIDDEN = /[/:*\0]/;
const validNamespaces = new Set<string>();

/** Keys: non-empty, no NUL or lone surrogates, short enough that the stream name fits the log's limit. */
export function validateKey(key: unknown, namespace: string): string {
  if (typeof key !== 'string') throw new InvalidKeyError(key, 'key must be a string');
  if (key.length === 0) throw new InvalidKeyError(key, 'key must not be empty');
  const max = MAX_NAME_LENGTH - KV_STREAM_PREFIX.length - namespace.length - 1;
  if (key.length > max) throw new InvalidKeyError(key, `key longer than ${max} characters (namespace ${JSON.stringify(namespace)})`);
  if (key.includes('\0')) throw new InvalidKeyError(key, 'key must not contain NUL');
  if (!key.isWellFormed()) throw new InvalidKeyError(key, 'key contains a lone surrogate');
  return key;
}

/** The stream of one key (validated). */
export function keyStream(namespace: string, key: string): string {
  const ns = validateNamespace(namespace);
  return `${KV_STREAM_PREFIX}${ns}/${validateKey(key, ns)}`;
}

/** The stream of a namespace's own events (created/deleted). */
export function namespaceStream(namespace: string): string {
  return KV_STREAM_PREFIX + validateNamespace(namespace);
}

/** Predicates: 1-256 characters, no NUL or lone surrogates (any other character is fine: they are bound, hashed or encoded, never interpolated). */
export function validatePredicate(predicate: unknown): string {
  if (typeof predicate !== 'string') throw new ValidationError(`predicate must be a string, got ${typeof predicate}`);
  if (predicate.length === 0) throw new ValidationError('predicate must not be empty');
  if (predicate.length > MAX_PREDICATE_LENGTH) throw new ValidationError(`predicate longer than ${MAX_PREDICATE_LENGTH} characters`);
  if (predicate.includes('\0')) throw new ValidationError('predicate must not contain NUL');
  if (!predicate.isWellFormed()) throw new ValidationError('predicate contains a lone surrogate');
  return predicate;
}

/** The relation's identity: the JSON text of `[subject namespace, subject key, predicate, object namespace, object key]`. */
export function relationId(subject: KeyRef, predicate: string, object: KeyRef): string {
  return JSON.stringify([subject.namespace, subject.key, predicate, object.namespace, object.key]);
}

/** The stream of one relation (validated): `rel:` and the hex SHA-256 of {@link relationId} (a triple can be longer than a stream name). */
export function relationStream(subject: KeyRef, predicate: string, object: KeyRef): string {
  keyStream(subject.namespace, subject.key);
  keyStream(object.namespace, object.key);
  validatePredicate(predicate);
  return RELATION_STREAM_PREFIX + createHash('sha256').update(relationId(subject, predicate, object)).digest('hex');
}

/** True for the relationship event types. */
export function isRelationType(type: string): type is RelationEventType {
  return type === RELATION.added || type === RELATION.removed;
}

/** Namespace and key of a keyed stream (`key` null for a namespace stream), or undefined for other streams. */
export function parseKeyedStream(stream: string): { namespace: string; key: string | null } | undefined {
  if (!stream.startsWith(KV_STREAM_PREFIX)) return undefined;
  const rest = stream.slice(KV_STREAM_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return rest.length > 0 ? { namespace: rest, key: null } : undefined;
  if (slash === 0 || slash === rest.length - 1) return undefined;
  return { namespace: rest.slice(0, slash), key: rest.slice(slash + 1) };
}

function meta(m: KeyedMeta | undefined, fallback: string): Record<string, unknown> {
  const out: Record<string, unknown> = { operation: m?.operation ?? fallback };
  if (m?.actor !== undefined) out.actor = m.actor;
  if (m?.tx !== undefined) out.tx = m.tx;
  return out;
}

function expiry(expiresAt: unknown): number | null {
  if (expiresAt === undefined || expiresAt === null) return null;
  if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) throw new ValidationError(`expiresAt must be epoch milliseconds, got ${shown(expiresAt)}`);
  return expiresAt;
}

function plainObject(m: unknown, what: string): Metadata {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ValidationError(`${what} must be a plain object`);
  return prepare(m as Metadata).value;
}

/** Builders of the keyed NewEvents the Store appends. Values and metadata are validated by the codec here. */
export const keyedEvents = Object.freeze({
  set(d: { value: unknown; metadata?: Metadata; expiresAt?: number | null }, m?: KeyedMeta): NewEvent<SetData> {
    const data: SetData = { v: 1, value: prepare(d.value).value, expiresAt: expiry(d.expiresAt) };
    if (d.metadata !== undefined) data.metadata = plainObject(d.metadata, 'metadata');
    return { type: KEYED.set, data, metadata: meta(m, 'set') };
  },
  patched(patches: readonly Patch[], m?: KeyedMeta): NewEvent<PatchedData> {
    if (!Array.isArray(patches)) throw new ValidationError('patches must be an array of immer patches');
    return { type: KEYED.patched, data: { v: 1, patches: prepare(patches).value }, metadata: meta(m, 'update') };
  },
  incremented(by: number, field: string | undefined, m?: KeyedMeta): NewEvent<IncrementedData> {
    if (typeof by !== 'number' || !Number.isFinite(by)) throw new ValidationError(`incr needs a finite number, got ${shown(by)}`);
    if (field !== undefined && (typeof field !== 'string' || field.split('.').some((s) => s.length === 0))) throw new ValidationError(`bad field path ${String(field)}`);
    return { type: KEYED.incremented, data: field === undefined ? { v: 1, by } : { v: 1, by, field }, metadata: meta(m, 'incr') };
  },
  metadata(metadata: Metadata, merge: boolean, m?: KeyedMeta): NewEvent<MetadataData> {
    return { type: merge ? KEYED.metadataMerged : KEYED.metadataSet, data: { v: 1, metadata: plainObject(metadata, 'metadata') }, metadata: meta(m, 'setMetadata') };
  },
  deleted(m?: KeyedMeta): NewEvent<EmptyData> {
    return { type: KEYED.deleted, data: { v: 1 }, metadata: meta(m, 'delete') };
  },
  expired(expiresAt: number, m?: KeyedMeta): NewEvent<ExpiredData> {
    return { type: KEYED.expired, data: { v: 1, expiresAt: expiry(expiresAt) ?? 0 }, metadata: meta(m, 'expire') };
  },
  purged(m?: KeyedMeta): NewEvent<EmptyData> {
    return { type: KEYED.purged, data: { v: 1 }, metadata: meta(m, 'purge') };
  },
  namespaceCreated(m?: KeyedMeta): NewEvent<EmptyData> {
    return { type: KEYED.namespaceCreated, data: { v: 1 }, metadata: meta(m, 'createNamespace') };
  },
  namespaceDeleted(m?: KeyedMeta): NewEvent<EmptyData> {
    return { type: KEYED.namespaceDeleted, data: { v: 1 }, metadata: meta(m, 'deleteNamespace') };
  },
  /** `kv.relation.added`, for the stream {@link relationStream} of the same triple. */
  relationAdded(subject: KeyRef, predicate: string, object: KeyRef, m?: KeyedMeta): NewEvent<RelationData> {
    return { type: RELATION.added, data: relationData(subject, predicate, object), metadata: meta(m, 'relate') };
  },
  /** `kv.relation.removed`, for the stream {@link relationStream} of the same triple. */
  relationRemoved(subject: KeyRef, predicate: string, object: KeyRef, m?: KeyedMeta): NewEvent<RelationData> {
    return { type: RELATION.removed, data: relationData(subject, predicate, object), metadata: meta(m, 'unrelate') };
  },
});

function relationData(subject: KeyRef, predicate: string, object: KeyRef): RelationData {
  relationStream(subject, predicate, object); // validates all five names
  return { v: 1, subject: { namespace: subject.namespace, key: subject.key }, predicate, object: { namespace: object.namespace, key: object.key } };
}

/** A relation event as a {@link KeyedEvent} of its subject key; a payload that does not name a valid triple of its stream is CorruptionError. */
function toRelationEvent(e: RecordedEvent, upcasters: Upcasters): KeyedEvent {
  const where = `stream ${JSON.stringify(e.stream)} revision ${e.revision}`;
  const d = upcastPayload(e.type, e.data, where, upcasters) as unknown as RelationData;
  let stream: string;
  try {
    stream = relationStream(d.subject, d.predicate, d.object);
  } catch (err) {
    throw new CorruptionError(`${e.type} payload does not name a valid relation: ${(err as Error).message}`, where, { cause: err });
  }
  if (stream !== e.stream) throw new CorruptionError(`${e.type} event outside its relation's stream`, where);
  const m = e.metadata;
  return {
    type: e.type as RelationEventType,
    namespace: d.subject.namespace,
    key: d.subject.key,
    data: d,
    version: e.revision,
    position: e.position,
    time: e.time.getTime(),
    actor: typeof m.actor === 'string' ? m.actor : null,
    operation: typeof m.operation === 'string' ? m.operation : e.type === RELATION.added ? 'relate' : 'unrelate',
    tx: typeof m.tx === 'string' ? m.tx : null,
  };
}

const TYPES = new Set<string>(KEYED_EVENT_TYPES);

/** True for the keyed event types. */
export function isKeyedType(type: string): type is KeyedEventType {
  return TYPES.has(type);
}

/** Bring a payload to the current schema version; newer or malformed payloads are CorruptionError. */
export function upcastPayload(type: string, data: unknown, at: string | (() => string), upcasters: Upcasters = UPCASTERS): Record<string, unknown> {
  const d0 = data as Record<string, unknown> | null;
  // the usual case first, without building the error's location (a JSON.stringify per event)
  if (typeof d0 === 'object' && d0 !== null && d0.v === KEYED_SCHEMA_VERSION && !Array.isArray(d0)) return d0;
  const where = typeof at === 'string' ? at : at();
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new CorruptionError(`${type} payload is not an object`, where);
  let d = data as Record<string, unknown>;
  let v = d.v as number;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new CorruptionError(`${type} payload without a schema version`, where);
  while (v < KEYED_SCHEMA_VERSION) {
    const up = upcasters[type]?.[v];
    if (!up) throw new CorruptionError(`no upcaster for ${type} payload version ${v}`, where);
    d = up(d);
    v = d.v as number;
  }
  if (v > KEYED_SCHEMA_VERSION) throw new CorruptionError(`${type} payload version ${v} was written by a newer dgent (this one reads ${KEYED_SCHEMA_VERSION}); upgrade dgent`, where);
  return d;
}

/** A recorded event as a {@link KeyedEvent}, or undefined when it is not a keyed event. Bad payloads are CorruptionError. */
export function toKeyedEvent(e: RecordedEvent, upcasters: Upcasters = UPCASTERS): KeyedEvent | undefined {
  if (!isKeyedType(e.type)) return isRelationType(e.type) ? toRelationEvent(e, upcasters) : undefined;
  const where = () => `stream ${JSON.stringify(e.stream)} revision ${e.revision}`;
  const s = parseKeyedStream(e.stream);
  if (!s) throw new CorruptionError(`${e.type} event outside a keyed stream`, where());
  const isNs = e.type === KEYED.namespaceCreated || e.type === KEYED.namespaceDeleted;
  if (isNs !== (s.key === null)) throw new CorruptionError(`${e.type} event in the wrong kind of stream`, where());
  const data = upcastPayload(e.type, e.data, where, upcasters);
  const m = e.metadata;
  return {
    type: e.type,
    namespace: s.namespace,
    key: s.key,
    data,
    version: e.revision,
    position: e.position,
    time: e.time.getTime(),
    actor: typeof m.actor === 'string' ? m.actor : null,
    operation: typeof m.operation === 'string' ? m.operation : e.type.slice(3),
    tx: typeof m.tx === 'string' ? m.tx : null,
  } as unknown as KeyedEvent;
}
