/**
 * Erasure: `purge(key)` appends a `kv.purged` event (no data) to the key's stream, which removes
 * the key from the KV view and its versions and audit entries from the other views, then asks the
 * log to delete the key's earlier events, so its values are gone from the log too ("delete means
 * delete", GDPR erasure). What stays is the purge's own audit entry: who purged which key, when.
 *
 * Namespaces: the erased events keep their stream and time, and the KV view reads an erased event
 * of a key stream as "the key's namespace exists from then" (as every event of a key stream:
 * views/plan.ts), so a rebuild keeps the namespace a purged key created, with its creation time.
 * On EventStoreDB the erased events are gone: a rebuild dates such a namespace from the purge (or
 * an earlier event of another key) instead (docs/store.md).
 *
 * Only logs that can erase events of a stream can purge (the `StreamEraser` capability of
 * streams/erase.ts: memory, SQLite, PostgreSQL and Redis redact them in place; EventStoreDB
 * truncates the stream and hides the erased events from every read, see
 * streams/eventstoredb/erasure.ts). Elsewhere (the file log: append-only, checksummed segments)
 * purge is a ValidationError before anything is appended: the values would stay in the log.
 */
import { ValidationError } from '../core/errors.js';
import { keyedEvents, keyStream } from '../projections/keyed-events.js';
import type { EventLog } from '../streams/event-log.js';
import type { StreamEraser } from '../streams/erase.js';
import type { StoreContext } from './context.js';
import type { OpOptions } from './types.js';

/** True when the log can erase events of a stream. */
export function isStreamEraser(log: EventLog): log is EventLog & StreamEraser {
  return typeof (log as Partial<StreamEraser>).eraseStream === 'function';
}

export async function purge(ctx: StoreContext, key: string, o: OpOptions = {}): Promise<void> {
  const ns = ctx.ns(o);
  const k = ctx.key(key, ns);
  const log = ctx.log;
  if (!isStreamEraser(log)) {
    throw new ValidationError(`purge needs a log that can delete a stream's events (memory, SQLite, PostgreSQL, Redis, EventStoreDB); ${log.constructor.name} cannot, so the values would stay in it`);
  }
  await ctx.open();
  await ctx.authorize('admin', ns, k, o);
  const stream = keyStream(ns, k);
  const r = await ctx.append(stream, [keyedEvents.purged(ctx.meta(o, 'purge'))], 'any');
  await log.eraseStream(stream, r.revision);
}
