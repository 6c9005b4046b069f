/**
 * Erasure on EventStoreDB (the `StreamEraser` capability of streams/erase.ts, for the Store's
 * `purge`): the server cannot rewrite an event, but it can truncate a stream. `eraseStream(s, n)`
 *
 * 1. records the erasure: one `$dgent-erased` event `{ stream, before }` in the log's hidden
 *    stream `<prefix>dgent-id-erasures` (a `$` type under the id-claim prefix: no dgent reader
 *    ever returns it);
 * 2. sets the stream's truncate-before (`$tb` in its metadata stream `$$<stream>`, other metadata
 *    kept) to server revision n - 1: the server stops returning the events below it from stream
 *    reads and removes them from disk at its next scavenge.
 *
 * Until that scavenge the server still returns the truncated events from `$all`, so `readAll` and
 * `subscribe` load the erasure records first and skip every event of an erased stream below its
 * recorded revision, before and after a scavenge alike. Differences from the logs that redact in
 * place (memory, SQLite, PostgreSQL, Redis): the erased events are gone from every read instead of
 * being returned as `dgent.erased` placeholders (a stream read starts at revision n), and the
 * stream's last event cannot be erased (the server keeps a stream's revision in it), so
 * `beforeRevision` may be at most the stream's revision. The values leave the server's disk at
 * its next scavenge (run one after an erasure request: `POST /admin/scavenge` or the admin UI).
 * Readers load the records once per `readAll` call or subscription: a subscription does not learn
 * of an erasure made while it runs (it delivered those events before, in order, anyway).
 */
import { BACKWARDS, END, FORWARDS, StreamNotFoundError, jsonEvent, type EventStoreDBClient } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import type { OpenReads } from './reads.js';
import { CLAIM_PREFIX } from './id-claims.js';

/** The hidden stream (after the log's prefix) holding the erasure records. */
export const ERASURES_STREAM = `${CLAIM_PREFIX}erasures`;
/** Event type of an erasure record. */
export const ERASURE_TYPE = '$dgent-erased';

/** Per dgent stream name: the events with a revision below this one are erased. */
export type Erasures = ReadonlyMap<string, number>;

/** Read the erasure records of the log with `prefix`. */
export async function loadErasures(client: EventStoreDBClient, reads: OpenReads, prefix: string): Promise<Erasures> {
  const out = new Map<string, number>();
  try {
    for await (const r of reads.entries(client.readStream(`${prefix}${ERASURES_STREAM}`, { direction: FORWARDS, fromRevision: 0n }), 'erasure records')) {
      const ev = r.event;
      if (ev === undefined || ev.type !== ERASURE_TYPE) continue;
      const d = ev.data as { stream?: unknown; before?: unknown };
      if (typeof d?.stream === 'string' && typeof d.before === 'number') out.set(d.stream, Math.max(out.get(d.stream) ?? 0, d.before));
    }
  } catch (e) {
    if (!(e instanceof StreamNotFoundError)) throw e;
  }
  return out;
}

/** True when the event at `revision` of `stream` is erased. */
export function isErased(erasures: Erasures, stream: string, revision: number): boolean {
  const before = erasures.get(stream);
  return before !== undefined && revision < before;
}

/** The stream's current metadata (raw JSON object of its last `$metadata` event), {} when none. */
async function metadataOf(client: EventStoreDBClient, reads: OpenReads, serverStream: string): Promise<Record<string, unknown>> {
  try {
    for await (const r of reads.entries(client.readStream(`$$${serverStream}`, { direction: BACKWARDS, fromRevision: END, maxCount: 1 }), `metadata of ${JSON.stringify(serverStream)}`)) {
      const d = r.event?.data;
      if (r.event?.type === '$metadata' && typeof d === 'object' && d !== null && !Array.isArray(d) && !(d instanceof Uint8Array)) return { ...(d as Record<string, unknown>) };
    }
  } catch (e) {
    if (!(e instanceof StreamNotFoundError)) throw e;
  }
  return {};
}

/**
 * Erase the events of `stream` (dgent name; `serverStream` its name on the server) with revision <
 * `before` (checked: 1 <= before <= the stream's revision). Resolves to how many were erased now.
 */
export async function eraseEvents(client: EventStoreDBClient, reads: OpenReads, prefix: string, stream: string, serverStream: string, before: number): Promise<number> {
  const meta = await metadataOf(client, reads, serverStream);
  const had = typeof meta.$tb === 'number' && Number.isInteger(meta.$tb) ? meta.$tb : 0;
  const tb = before - 1; // server revision of dgent revision `before`
  if (tb <= had) return 0;
  // the record first: from then on no reader returns the events, whatever the truncation's fate
  await client.appendToStream(`${prefix}${ERASURES_STREAM}`, jsonEvent({ id: randomUUID(), type: ERASURE_TYPE, data: { stream, before } }));
  await client.appendToStream(`$$${serverStream}`, jsonEvent({ id: randomUUID(), type: '$metadata', data: { ...meta, $tb: tb } }));
  return tb - had;
}
