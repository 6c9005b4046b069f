/** The Store views behind the inspector's Store tab: read with the view readers, never through a Store (which could write). */
import type { EventLog } from '../../streams/event-log.js';
import { toTree } from '../../core/codec.js';
import { viewReaders } from '../../projections/views/index.js';
import type { ViewStorage } from '../../projections/view-storage.js';
import { defaultViewStorage } from '../../store/default-views.js';
import type { ViewsApi } from './api.js';

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
