/**
 * A log proxy for the fused-append tests on PostgreSQL: a lone `kv.deleted` appended without an
 * expected revision is appended at the stream's current revision instead (as Store.delete does: only
 * such deletes take the fused statement; the appends here are sequential, so nothing conflicts).
 * Counts the lone sets and deletes it passes on (the appends that can fuse), and the deletes.
 */
import type { AppendOptions, EventLog, NewEvent } from '../../src/streams/event-log.js';
import { KEYED } from '../../src/projections/keyed-events.js';

export function exactDeletes<L extends EventLog>(log: L): { log: L; fusable: () => number; deletes: () => number } {
  let fusable = 0;
  let deletes = 0;
  const proxy = new Proxy(log, {
    get(target, p) {
      if (p === 'append') {
        return async (stream: string, events: readonly NewEvent[], o?: AppendOptions) => {
          const lone = events.length === 1 ? events[0]!.type : undefined;
          if (lone === KEYED.set) fusable++;
          if (lone === KEYED.deleted && o?.expectedRevision === undefined) {
            fusable++;
            deletes++;
            return target.append(stream, events, { expectedRevision: await target.revision(stream) });
          }
          return target.append(stream, events, o);
        };
      }
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { log: proxy, fusable: () => fusable, deletes: () => deletes };
}
