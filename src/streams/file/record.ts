/**
 * The payload of one frame: one commit of one or more events.
 *
 * ```
 * | head length u32 LE | head JSON | body JSON |
 * head = { b: batch start offset, p: first position, t: time ms, e: [[stream, revision, id, type], ...] }
 * body = [[data, metadata], ...]   (codec trees, one pair per event)
 * ```
 *
 * The head is separate so that rebuilding the stream index and filtering by type never parse
 * event data. `b` is the segment offset where the write batch holding this frame began; recovery
 * uses it to tell the torn last batch from damage to data that was already acknowledged.
 */
import { fromTree, prepare } from '../../core/codec.js';
import { CorruptionError } from '../../core/errors.js';
import type { RecordedEvent } from '../event-log.js';

/** One event's entry in a commit head: stream, revision, id, type. */
export type HeadEntry = [stream: string, revision: number, id: string, type: string];

/** The index-relevant part of a commit. */
export interface CommitHead {
  /** segment offset of the first frame of the write batch this frame belongs to */
  b: number;
  /** position of the first event */
  p: number;
  /** commit time, epoch ms */
  t: number;
  e: HeadEntry[];
}

/** Build a commit payload. `bodyText` is the JSON array of `[data, metadata]` pairs. */
export function encodeCommit(head: CommitHead, bodyText: string): Buffer {
  const headText = JSON.stringify(head);
  const headLen = Buffer.byteLength(headText, 'utf8');
  const bodyLen = Buffer.byteLength(bodyText, 'utf8');
  const out = Buffer.allocUnsafe(4 + headLen + bodyLen);
  out.writeUInt32LE(headLen, 0);
  out.write(headText, 4, 'utf8');
  out.write(bodyText, 4 + headLen, 'utf8');
  return out;
}

function isEntry(x: unknown): x is HeadEntry {
  return (
    Array.isArray(x) &&
    x.length === 4 &&
    typeof x[0] === 'string' &&
    Number.isSafeInteger(x[1]) &&
    (x[1] as number) >= 1 &&
    typeof x[2] === 'string' &&
    typeof x[3] === 'string'
  );
}

/** Parse the head of a payload whose checksum already passed. Anything malformed is corruption. */
export function decodeHead(payload: Buffer, location: string): CommitHead {
  if (payload.length < 4) throw new CorruptionError('commit payload too short', location);
  const headLen = payload.readUInt32LE(0);
  if (headLen > payload.length - 4) throw new CorruptionError('commit head length beyond the payload', location);
  let head: CommitHead;
  try {
    head = JSON.parse(payload.toString('utf8', 4, 4 + headLen)) as CommitHead;
  } catch (e) {
    throw new CorruptionError('commit head is not valid JSON', location, { cause: e });
  }
  if (
    typeof head !== 'object' ||
    head === null ||
    !Number.isSafeInteger(head.b) ||
    head.b < 0 ||
    !Number.isSafeInteger(head.p) ||
    head.p < 1 ||
    !Number.isFinite(head.t) ||
    !Array.isArray(head.e) ||
    head.e.length === 0 ||
    !head.e.every(isEntry)
  ) {
    throw new CorruptionError('commit head has an unexpected shape', location);
  }
  return head;
}

/** Decode the events of a commit; `only`, when given, picks the event indexes wanted. */
export function decodeEvents(payload: Buffer, head: CommitHead, location: string, only?: (index: number) => boolean): RecordedEvent[] {
  const headLen = payload.readUInt32LE(0);
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8', 4 + headLen));
  } catch (e) {
    throw new CorruptionError('commit body is not valid JSON', location, { cause: e });
  }
  if (!Array.isArray(body) || body.length !== head.e.length) throw new CorruptionError('commit body does not match its head', location);
  const out: RecordedEvent[] = [];
  const time = prepare(new Date(head.t)).value;
  for (let i = 0; i < head.e.length; i++) {
    if (only && !only(i)) continue;
    const pair = body[i] as unknown;
    if (!Array.isArray(pair) || pair.length !== 2) throw new CorruptionError('commit body entry has an unexpected shape', location);
    const [stream, revision, id, type] = head.e[i]!;
    const metadata = fromTree<Record<string, unknown>>(pair[1], location);
    if (typeof metadata !== 'object' || metadata === null) throw new CorruptionError('event metadata is not an object', location);
    out.push(
      Object.freeze({ id, stream, revision, position: head.p + i, type, data: fromTree(pair[0], location), metadata, time }),
    );
  }
  return out;
}
