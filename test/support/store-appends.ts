/**
 * A log proxy for the fused-append tests on PostgreSQL, appending lone keyed events the way the
 * Store does, so that they can take the fused statement: with `read` (the KV view's row of a key),
 * a lone `kv.patched` or `kv.incremented` carries the value folded from the row read (hintFoldFrom,
 * as Store.update and Store.incr attach it). The appends here are sequential, so nothing
 * conflicts. Counts the appends that can fuse (lone sets and deletes, hinted patches and
 * increments), the deletes and the hinted ones.
 */
import type { AppendOptions, EventLog, NewEvent } from '../../src/streams/event-log.js';
import { KEYED, parseKeyedStream } from '../../src/projections/keyed-events.js';
import { hintFoldFrom } from '../../src/projections/storage/postgres-fused.js';
import type { KvEntry } from '../../src/projections/views/rows.js';

export interface StoreAppends<L> {
  log: L;
  fusable(): number;
  deletes(): number;
  hinted(): number;
}

export function asStoreAppends<L extends EventLog>(log: L, read?: (namespace: string, key: string) => Promise<KvEntry | undefined>): StoreAppends<L> {
  const n = { fusable: 0, deletes: 0, hinted: 0 };
  const proxy = new Proxy(log, {
    get(target, p) {
      if (p === 'append') {
        return async (stream: string, events: readonly NewEvent[], o?: AppendOptions) => {
          const lone = events.length === 1 ? events[0]! : undefined;
          if (lone?.type === KEYED.set) n.fusable++;
          if (lone?.type === KEYED.deleted) {
            n.fusable++;
            n.deletes++;
          }
          if (read && lone && (lone.type === KEYED.patched || lone.type === KEYED.incremented)) {
            const k = parseKeyedStream(stream);
            const row = k?.key ? await read(k.namespace, k.key) : undefined;
            if (row) {
              hintFoldFrom(lone, stream, row);
              n.fusable++;
              n.hinted++;
            }
          }
          return target.append(stream, events, o);
        };
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { log: proxy, fusable: () => n.fusable, deletes: () => n.deletes, hinted: () => n.hinted };
}
