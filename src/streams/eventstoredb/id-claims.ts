/**
 * Event ids unique across the log, on a server that only deduplicates within one stream.
 *
 * dgent's rule (see `resolveEventIds`): an id given by the caller may be stored once in the whole
 * log; an exact retry of a stored batch returns the original result; any other reuse is a
 * ValidationError. EventStoreDB has no index by event id, so for every caller-given id the log
 * first claims it: it appends one `$dgent-id` event `{ stream }` to the claim stream
 * `<prefix>dgent-id-<uuid>` with expected revision NO_STREAM. The server's optimistic concurrency
 * makes exactly one claimant win, so two appends racing with the same id cannot both store it.
 *
 * - Claim won: the id is new; the append goes ahead.
 * - Claim held for another stream: ValidationError, nothing appended.
 * - Claim held for the same stream: an earlier append got that far; the stream is searched
 *   (newest first) for the events, and `resolveEventIds` decides between exact retry, reuse
 *   (ValidationError) and "claimed but never stored" (a crash or a conflict after claiming): then
 *   the append goes ahead.
 *
 * Costs and limits: an append with caller-given ids takes one extra round trip per id (claims run
 * in parallel) plus a stream scan on a retry. A claim is never released: an id from an append
 * that failed after claiming stays reserved for that stream. Claim events have a `$` type, so no
 * dgent reader (readAll, subscribe) ever returns them. Appends without ids pay nothing.
 */
import { FORWARDS, BACKWARDS, END, NO_STREAM, StreamNotFoundError, WrongExpectedVersionError, jsonEvent, type EventStoreDBClient } from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';
import { ValidationError } from '../../core/errors.js';
import type { AppendResult, NewEvent } from '../event-log.js';
import { resolveEventIds, type StoredEventRef } from '../validate.js';
import type { OpenReads } from './reads.js';
import { CLAIM_TYPE, serverIdOf, toDgentPosition, toDgentRevision } from './mapping.js';

/** Stream names (after the log's prefix) that hold id claims; user streams may not start with it. */
export const CLAIM_PREFIX = 'dgent-id-';

interface Claim {
  id: string;
  owner: string;
  fresh: boolean;
}

/**
 * Claim the caller-given ids of a batch for `stream` (the dgent name) before appending it.
 * Returns the original result when the batch is an exact retry of a stored one, undefined when the
 * append should go ahead; throws ValidationError on any other reuse.
 */
export async function claimIds(client: EventStoreDBClient, reads: OpenReads, prefix: string, stream: string, events: readonly NewEvent[]): Promise<AppendResult | undefined> {
  const ids = events.flatMap((e) => (e.id === undefined ? [] : [e.id]));
  if (ids.length === 0) return undefined;
  resolveEventIds(stream, events, () => undefined); // an id repeated inside the batch, before anything is claimed
  const claims = await Promise.all(ids.map((id) => claimOne(client, reads, prefix, stream, id)));
  const foreign = claims.find((c) => c.owner !== stream);
  if (foreign) {
    throw new ValidationError(`event id ${JSON.stringify(foreign.id)} already exists (stream ${JSON.stringify(foreign.owner)}); only an exact retry of a stored batch is accepted`, [
      { message: 'duplicate id', path: `events[${events.findIndex((e) => e.id === foreign.id)}].id` },
    ]);
  }
  const held = claims.filter((c) => !c.fresh);
  if (held.length === 0) return undefined;
  const stored = await findStored(client, reads, prefix + stream, stream, new Map(held.map((c) => [serverIdOf(c.id), c.id])));
  return resolveEventIds(stream, events, (id) => stored.get(id));
}

async function claimOne(client: EventStoreDBClient, reads: OpenReads, prefix: string, stream: string, id: string): Promise<Claim> {
  const claimStream = `${prefix}${CLAIM_PREFIX}${serverIdOf(id)}`;
  try {
    await client.appendToStream(claimStream, jsonEvent({ id: randomUUID(), type: CLAIM_TYPE, data: { stream } }), { expectedRevision: NO_STREAM });
    return { id, owner: stream, fresh: true };
  } catch (e) {
    if (!(e instanceof WrongExpectedVersionError)) throw e;
  }
  for await (const r of reads.entries(client.readStream(claimStream, { direction: FORWARDS, fromRevision: 0n, maxCount: 1 }), `id claim lookup ${JSON.stringify(claimStream)}`)) {
    const owner = (r.event?.data as { stream?: unknown } | undefined)?.stream;
    if (typeof owner === 'string') return { id, owner, fresh: false };
  }
  throw new ValidationError(`the id claim stream ${JSON.stringify(claimStream)} exists but holds no claim; it was written by something other than dgent`);
}

/** Search `serverStream` newest first for the events whose server ids are the keys of `wanted`. */
async function findStored(client: EventStoreDBClient, reads: OpenReads, serverStream: string, stream: string, wanted: Map<string, string>): Promise<Map<string, StoredEventRef>> {
  const found = new Map<string, StoredEventRef>();
  try {
    for await (const r of reads.entries(client.readStream(serverStream, { direction: BACKWARDS, fromRevision: END }), `retry lookup in ${JSON.stringify(serverStream)}`)) {
      const ev = r.event;
      if (ev === undefined) continue;
      const id = wanted.get(ev.id);
      if (id === undefined || ev.position === undefined) continue;
      found.set(id, { stream, revision: toDgentRevision(ev.revision), position: toDgentPosition(ev.position.commit) });
      if (found.size === wanted.size) break;
    }
  } catch (e) {
    if (!(e instanceof StreamNotFoundError)) throw e;
  }
  return found;
}
