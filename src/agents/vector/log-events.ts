/**
 * Events of the logged mode. Each add/upsert/remove call appends one or more events (batches are
 * split every 4096 items so that no single event grows without bound); vectors travel as one
 * Uint8Array of little-endian float32 per event, which the codec stores as base64.
 *
 * `VectorsAdded` / `VectorsUpserted`: `{ ids: string[], vectors: Uint8Array, data?: unknown[] }`
 * (vectors normalised for cosine, `data` only when some item has data).
 * `VectorsRemoved`: `{ ids: string[] }` (only ids that were present).
 */
import { CorruptionError } from '../../core/errors.js';
import type { NewEvent, RecordedEvent } from '../../streams/event-log.js';
import { bytesToFloats, floatsToBytes } from './vectors.js';

/** Event type names of the logged mode. */
export const VECTOR_EVENTS = Object.freeze({ added: 'VectorsAdded', upserted: 'VectorsUpserted', removed: 'VectorsRemoved' });

/** Items of one write, vectors already checked (and normalised). */
export interface VectorBatch {
  ids: string[];
  /** ids.length * dimension values */
  vectors: Float32Array;
  /** aligned with ids; undefined where an item has no data */
  data: unknown[];
}

/** A write, as applied to the index and as logged. */
export type VectorOp = { op: 'add' | 'upsert'; batch: VectorBatch } | { op: 'remove'; ids: string[] };

const CHUNK = 4096;

/** The events of one write. */
export function opToEvents(op: VectorOp, dimension: number): NewEvent[] {
  if (op.op === 'remove') {
    const out: NewEvent[] = [];
    for (let i = 0; i < op.ids.length; i += CHUNK) out.push({ type: VECTOR_EVENTS.removed, data: { ids: op.ids.slice(i, i + CHUNK) } });
    return out;
  }
  const type = op.op === 'add' ? VECTOR_EVENTS.added : VECTOR_EVENTS.upserted;
  const { ids, vectors, data } = op.batch;
  const out: NewEvent[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const end = Math.min(ids.length, i + CHUNK);
    const part = data.slice(i, end);
    out.push({
      type,
      data: {
        ids: ids.slice(i, end),
        vectors: floatsToBytes(vectors.subarray(i * dimension, end * dimension)),
        ...(part.some((d) => d !== undefined) ? { data: part } : {}),
      },
    });
  }
  return out;
}

/** Decode a recorded event; CorruptionError when it is not a well-formed vector event. */
export function eventToOp(e: RecordedEvent, dimension: number): VectorOp {
  const where = `${e.stream}@${e.revision}`;
  const bad = (why: string): never => {
    throw new CorruptionError(`vector event ${e.type} is malformed: ${why}`, where);
  };
  const d = e.data as { ids?: unknown; vectors?: unknown; data?: unknown } | null;
  if (typeof d !== 'object' || d === null) bad('data is not an object');
  const ids = d!.ids;
  if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string' || id.length === 0)) bad('ids is not a list of non-empty strings');
  if (e.type === VECTOR_EVENTS.removed) return { op: 'remove', ids: ids as string[] };
  if (e.type !== VECTOR_EVENTS.added && e.type !== VECTOR_EVENTS.upserted) bad('unknown event type');
  if (!(d!.vectors instanceof Uint8Array)) bad('vectors is not binary');
  const vectors = bytesToFloats(d!.vectors as Uint8Array);
  if (!vectors || vectors.length !== (ids as string[]).length * dimension) bad(`vectors do not hold ${(ids as string[]).length} x ${dimension} float32 values`);
  for (let i = 0; i < vectors!.length; i++) if (!Number.isFinite(vectors![i]!)) bad('a vector value is not finite');
  const data = d!.data === undefined ? new Array<unknown>((ids as string[]).length).fill(undefined) : d!.data;
  if (!Array.isArray(data) || data.length !== (ids as string[]).length) bad('data does not match ids');
  return { op: e.type === VECTOR_EVENTS.added ? 'add' : 'upsert', batch: { ids: ids as string[], vectors: vectors!, data: data as unknown[] } };
}
