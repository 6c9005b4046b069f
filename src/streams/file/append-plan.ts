/**
 * Turning a batch of append requests into frames: each request is checked in order against the
 * committed index plus the requests before it in the same batch, so one request's conflict fails
 * only that request. A request becomes exactly one frame (all-or-nothing on recovery).
 */
import { encode, prepare } from '../../core/codec.js';
import { StateTooLargeError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { AppendResult, ExpectedRevision, NewEvent, RecordedEvent } from '../event-log.js';
import { checkExpected, resolveEventIds, validateEvents, validateExpected, validateName, withEventContext } from '../validate.js';
import type { StoredEventRef } from '../validate.js';
import type { Outcome } from './group-commit.js';
import { encodeCommit } from './record.js';
import type { CommitHead, HeadEntry } from './record.js';
import { encodeFrame } from './segment.js';
import type { StreamIndex } from './stream-index.js';

/** One event, validated and encoded. */
interface PreparedEvent {
  id: string | undefined;
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
  /** `[data,metadata]` as codec JSON */
  body: string;
}

/** One stream's part of a request. */
interface PreparedPart {
  stream: string;
  expected: ExpectedRevision;
  events: PreparedEvent[];
}

/** An append (one stream) or appendMany (several): committed as one frame. */
export interface AppendRequest {
  parts: PreparedPart[];
  /** some event holds Uint8Array data (mutable: never cached, copied per read) */
  binary: boolean;
  /** the events' time, epoch ms, when it is not the commit's (an import keeps the source's times) */
  time?: number | undefined;
}

/** Validate and encode an append request before it joins a batch; bad input throws here. */
export function prepareRequest(appends: readonly { stream: unknown; events: unknown; expectedRevision?: unknown }[], maxBytes: number): AppendRequest {
  let binary = false;
  let bytes = 0;
  const parts = appends.map((a) => {
    const stream = validateName(a.stream, 'stream');
    const expected = validateExpected(a.expectedRevision);
    const valid = validateEvents(a.events);
    const events = withEventContext(stream, valid, () =>
      valid.map((e: NewEvent) => {
        const data = prepare(e.data);
        const metadata = prepare(e.metadata ?? {});
        binary ||= data.hasBinary || metadata.hasBinary;
        const body = `[${encode(data.value)},${encode(metadata.value)}]`;
        bytes += Buffer.byteLength(body, 'utf8');
        return { id: e.id, type: e.type, data: data.value, metadata: metadata.value as Record<string, unknown>, body };
      }),
    );
    return { stream, expected, events };
  });
  if (bytes > maxBytes) throw new StateTooLargeError(bytes, maxBytes);
  return { parts, binary };
}

/** Explicit event ids of the requests (to look up before planning). */
export function explicitIds(requests: readonly AppendRequest[]): string[] {
  return requests.flatMap((r) => r.parts.flatMap((p) => p.events.flatMap((e) => (e.id === undefined ? [] : [e.id]))));
}

/** A request that will be written: its frame and what it becomes once durable. */
export interface PlannedFrame {
  request: number;
  head: CommitHead;
  frame: Buffer;
  events: RecordedEvent[];
  binary: boolean;
}

/** The frames of a batch and each request's outcome (valid once the frames are durable). */
export interface BatchPlan {
  frames: PlannedFrame[];
  outcomes: Outcome<AppendResult[]>[];
}

/**
 * Plan a batch written at segment offset `batchStart`. `stored` holds the committed events whose
 * ids some request mentions.
 */
export function planBatch(requests: readonly AppendRequest[], index: StreamIndex, stored: ReadonlyMap<string, StoredEventRef>, batchStart: number, time: number): BatchPlan {
  const frames: PlannedFrame[] = [];
  const outcomes: Outcome<AppendResult[]>[] = [];
  const revisions = new Map<string, number>();
  const pending = new Map<string, StoredEventRef>();
  const now = prepare(new Date(time)).value;
  let position = index.head;
  for (const [ri, req] of requests.entries()) {
    // work on copies so that a failing part leaves the batch state as it was
    const revs = new Map(revisions);
    const ids = new Map<string, StoredEventRef>();
    const lookup = (id: string): StoredEventRef | undefined => ids.get(id) ?? pending.get(id) ?? stored.get(id);
    const entries: HeadEntry[] = [];
    const bodies: string[] = [];
    const events: RecordedEvent[] = [];
    const results: AppendResult[] = [];
    const at = req.time ?? time;
    const when = req.time === undefined ? now : prepare(new Date(req.time)).value;
    let pos = position;
    try {
      for (const part of req.parts) {
        const retry = resolveEventIds(part.stream, part.events, lookup);
        if (retry) {
          results.push(retry);
          continue;
        }
        const current = revs.get(part.stream) ?? index.revision(part.stream);
        checkExpected(part.stream, part.expected, current);
        part.events.forEach((e, i) => {
          const id = e.id ?? newId();
          const revision = current + i + 1;
          pos++;
          entries.push([part.stream, revision, id, e.type]);
          bodies.push(e.body);
          ids.set(id, { stream: part.stream, revision, position: pos });
          events.push(Object.freeze({ id, stream: part.stream, revision, position: pos, type: e.type, data: e.data, metadata: e.metadata, time: when }));
        });
        revs.set(part.stream, current + part.events.length);
        results.push({ revision: current + part.events.length, position: pos });
      }
    } catch (error) {
      outcomes.push({ ok: false, error });
      continue;
    }
    outcomes.push({ ok: true, value: results });
    if (entries.length === 0) continue; // every part was an idempotent retry
    const head: CommitHead = { b: batchStart, p: position + 1, t: at, e: entries };
    frames.push({ request: ri, head, frame: encodeFrame(encodeCommit(head, `[${bodies.join(',')}]`)), events, binary: req.binary });
    position = pos;
    for (const [k, v] of revs) revisions.set(k, v);
    for (const [k, v] of ids) pending.set(k, v);
  }
  return { frames, outcomes };
}
