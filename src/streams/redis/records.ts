/** How events become Redis stream entries and come back. */
import { decode, encode } from '../../core/codec.js';
import { CorruptionError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { NewEvent, RecordedEvent } from '../event-log.js';

const EMPTY: Record<string, unknown> = Object.freeze({}) as Record<string, unknown>;

/**
 * The APPEND script's per-event arguments: id, whether the id came from the caller (and must be
 * checked for reuse), type, encoded data, encoded metadata ('' = none). Encoding validates the
 * data (SerializationError with the path) before anything is sent.
 */
export function eventArgs(events: readonly NewEvent[], out: string[]): void {
  for (const e of events) {
    const meta = e.metadata === undefined || Object.keys(e.metadata).length === 0 ? '' : encode(e.metadata);
    out.push(e.id ?? newId(), e.id === undefined ? '0' : '1', e.type, encode(e.data), meta);
  }
}

/** A raw `[id, [field, value, ...]]` entry of the global stream as a RecordedEvent (data and metadata deeply frozen). */
export function toRecorded(entry: unknown, where: string): RecordedEvent {
  const [id, fields] = entry as [string, string[]];
  let stream: string | undefined;
  let revision = NaN;
  let eventId: string | undefined;
  let type: string | undefined;
  let data: string | undefined;
  let meta = '';
  let ms = NaN;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const v = fields[i + 1]!;
    switch (fields[i]) {
      case 's': stream = v; break;
      case 'r': revision = Number(v); break;
      case 'i': eventId = v; break;
      case 't': type = v; break;
      case 'd': data = v; break;
      case 'm': meta = v; break;
      case 'ts': ms = Number(v); break;
    }
  }
  const position = Number(id.slice(0, id.indexOf('-')));
  if (stream === undefined || eventId === undefined || type === undefined || data === undefined || !(revision >= 1) || !(position >= 1) || !Number.isFinite(ms)) {
    throw new CorruptionError(`entry ${id} of the global stream is missing fields`, where);
  }
  return {
    id: eventId,
    stream,
    revision,
    position,
    type,
    data: decode(data, where),
    metadata: meta === '' ? EMPTY : decode<Record<string, unknown>>(meta, where),
    time: new Date(ms),
  };
}
