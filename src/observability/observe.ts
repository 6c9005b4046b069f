/**
 * What each kind of observed object wraps, and its health ping: event logs, the Store and
 * CachedAgent create their {@link Instrumentation} through these, one line in their constructor.
 */
import { ClosedError } from '../core/errors.js';
import type { HealthOptions, HealthResult, ObservabilityOptions } from './types.js';
import { Instrumentation, type OperationSpec, type TargetInfo } from './instrumentation.js';

/** The EventLog operations (appendMany where the log has it; reads timed to the end of the iteration). */
export const LOG_OPERATIONS: readonly OperationSpec[] = [
  { name: 'append' },
  { name: 'appendMany' },
  { name: 'read', kind: 'iterable' },
  { name: 'readAll', kind: 'iterable' },
  { name: 'revision' },
  { name: 'subscribe', kind: 'sync' },
];

/** The Store operations; `get`/`getMany` results count as cache hits or misses. */
export const STORE_OPERATIONS: readonly OperationSpec[] = [
  { name: 'get', lookup: 'value' },
  { name: 'getMany', lookup: 'values' },
  ...['has', 'set', 'delete', 'setMany', 'deleteMany', 'list', 'query', 'count', 'createNamespace', 'deleteNamespace', 'listNamespaces', 'getMetadata', 'setMetadata', 'clear', 'versions', 'audit', 'transaction', 'update', 'incr', 'purge', 'sweep', 'rebuildViews', 'relate', 'unrelate', 'related', 'relatedTo', 'relationHistory'].map((name) => ({ name })),
];

/** The CachedAgent operations (hits, misses and evictions are counted by the agent itself). */
export const CACHED_AGENT_OPERATIONS: readonly OperationSpec[] = ['load', 'save', 'update', 'history', 'flush', 'version', 'loadAt'].map((name) => ({ name }));

/** A stream name no application uses: the ping reads its revision. */
export const HEALTH_STREAM = 'dgent-health-check';

/** Observe an event log: call in its constructor with its backend. */
export function observeLog(log: object, info: TargetInfo, options: ObservabilityOptions | undefined): Instrumentation {
  const obs = new Instrumentation(info, options);
  obs.install(log, LOG_OPERATIONS);
  return obs;
}

/** `health()` of an event log: one `revision()` round trip on a stream that does not exist, not counted in stats. */
export function logHealth(log: object, obs: Instrumentation, options?: HealthOptions, details?: () => Record<string, unknown>): Promise<HealthResult> {
  const revision = obs.original('revision') ?? (log as { revision: (s: string) => Promise<number> }).revision;
  return obs.health(async () => {
    await revision.call(log, HEALTH_STREAM);
    return details?.() ?? {};
  }, options);
}

/** Observe a Store: call in its constructor. */
export function observeStore(store: object, options: ObservabilityOptions | undefined): Instrumentation {
  const obs = new Instrumentation({ target: 'store' }, options, true);
  obs.install(store, STORE_OPERATIONS);
  return obs;
}

/** What `Store.health()` needs of the Store's internals. */
export interface StoreHealthSource {
  readonly ready: Promise<void>;
  readonly closed: boolean;
  readonly log: object;
  readonly mode: string;
  readonly storage: { readonly kind: string };
  valueOf(namespace: string, key: string, now: number): Promise<unknown>;
  now(): number;
}

/**
 * `health()` of a Store: setup finished, the log's own health (its `health()`, else a revision
 * ping) and one lookup in the views; `details.log` holds the log's result.
 */
export function storeHealth(ctx: StoreHealthSource, obs: Instrumentation, options?: HealthOptions): Promise<HealthResult> {
  return obs.health(async () => {
    if (ctx.closed) throw new ClosedError('Store');
    await ctx.ready;
    const log = ctx.log as { health?: (o?: HealthOptions) => Promise<HealthResult>; revision(stream: string): Promise<number> };
    const logResult = typeof log.health === 'function' ? await log.health(options) : undefined;
    if (logResult && !logResult.ok) throw logResult.error;
    if (!logResult) await log.revision(HEALTH_STREAM);
    await ctx.valueOf('default', HEALTH_STREAM, ctx.now());
    return { log: logResult, viewStorage: ctx.storage.kind, viewsMode: ctx.mode };
  }, options);
}

/** Observe a CachedAgent: call at the end of its constructor (after `version`/`loadAt` exist). */
export function observeCachedAgent(agent: object, options: ObservabilityOptions | undefined): Instrumentation {
  const obs = new Instrumentation({ target: 'cached-agent' }, options, true);
  obs.install(agent, CACHED_AGENT_OPERATIONS);
  return obs;
}
