/** The Store views behind the inspector's Store tab: read with the view readers, never through a Store (which could write). */
import type { EventLog } from '../../streams/event-log.js';
import { toTree } from '../../core/codec.js';
import { viewReaders } from '../../projections/views/index.js';
import type { ViewStorage } from '../../projections/view-storage.js';
import { defaultViewStorage } from '../../store/default-views.js';
import type { ViewsApi } from './api.js';
import { lagAfter } from '../../projections/runner/log-head.js';

const VIEWS = ['kv', 'kv_versions', 'kv_audit'];

/** Lazily opened view readers over the log's own backend; `get` fails when the backend holds none. */
export function storeViews(log: EventLog): { get: () => Promise<ViewsApi>; close(): Promise<void> } {
  let storage: ViewStorage | undefined;
  let api: Promise<ViewsApi> | undefined;
  return {
    get() {
      api ??= (async () => {
        storage = await defaultViewStorage(log);
        const r = viewReaders(storage);
        return {
          async keys(namespace: string) {
            const rows = (await r.kv.all()).filter((e) => e.namespace === namespace);
            return rows.map((e) => ({ key: e.key, version: e.version, value: toTree(e.value), updatedAt: new Date(e.updatedAt).toISOString() }));
          },
          async audit(key: string | undefined, namespace: string) {
            const rows = await r.audit.audit({ namespace, ...(key === undefined ? {} : { key }) } as never);
            return rows.map((e) => ({ position: e.position, time: new Date(e.time).toISOString(), actor: e.actor, operation: e.operation, key: e.key, version: e.version }));
          },
          async projections() {
            // the checkpoint each view's active generation holds, and what the log has after it
            return Promise.all(
              VIEWS.map(async (name) => {
                const g = await storage!.active(name);
                if (!g) return { name, built: false, position: 0, lagEvents: null, lagMs: null };
                const lag = await lagAfter(log, g.position, 10_000);
                return { name, built: true, generation: g.generation, version: g.version, position: g.position, lagEvents: lag.events, lagMs: lag.oldest ? Math.max(0, Date.now() - lag.oldest.getTime()) : 0 };
              }),
            );
          },
          close: async () => undefined,
        };
      })();
      return api;
    },
    async close() {
      await storage?.close();
    },
  };
}
