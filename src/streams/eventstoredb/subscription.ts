/**
 * Subscriptions on the server's own catch-up subscription to $all: the server reads history from
 * the position, then switches to live events itself, so no polling. The filter is applied on the
 * server (event type, or stream name for a prefixed log or a one-stream subscription) and checked
 * again here, together with a strictly-increasing position check, so a lenient server filter can
 * neither leak foreign events nor repeat one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { START, type EventStoreDBClient, type Filter, type ResolvedEvent } from '@eventstore/db-client';
import type { RecordedEvent, Subscription } from '../event-log.js';
import { toDgentError } from './errors.js';
import { toServerPosition } from './mapping.js';

/** Identifies the subscription whose handler is running, so `close()` from inside it does not wait for itself. */
const running = new AsyncLocalStorage<object>();

/** What a subscription needs from the log. */
export interface ServerSubscriptionSource {
  client: EventStoreDBClient;
  filter: Filter;
  /** run before the first event is converted (e.g. loading the erasure records) */
  prepare?: (() => Promise<void>) | undefined;
  /** the dgent event for a resolved event, or undefined when it is not this log's (system, other prefix, other stream, erased) */
  convert(r: ResolvedEvent): RecordedEvent | undefined;
}

/** Start a subscription after `fromPosition` (exclusive; 0 = from the start). */
export function serverSubscription(source: ServerSubscriptionSource, fromPosition: number, handler: (e: RecordedEvent) => void | Promise<void>): Subscription {
  const sub = source.client.subscribeToAll({ fromPosition: fromPosition === 0 ? START : toServerPosition(fromPosition), filter: source.filter });
  const token = {};
  let closed = false;
  let last = fromPosition;
  const run = async (): Promise<void> => {
    try {
      if (source.prepare) await source.prepare();
      for await (const r of sub) {
        if (closed) break;
        const e = source.convert(r);
        if (e === undefined || e.position <= last) continue;
        last = e.position;
        await running.run(token, () => handler(e));
        if (closed) break;
      }
    } catch (err) {
      if (!closed) throw toDgentError(err, 'subscription to $all');
    } finally {
      await sub.unsubscribe();
    }
  };
  const done = run();
  return {
    done,
    async close(): Promise<void> {
      if (closed) return void (await done.catch(() => undefined));
      closed = true;
      if (running.getStore() === token) return; // called from our own handler: the loop stops after it returns
      await sub.unsubscribe();
      sub.destroy(); // a cancelled call does not end the client's stream: end the iteration here
      await done.catch(() => undefined); // the error stays on `done` for whoever awaits it
    },
  };
}
