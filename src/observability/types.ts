/**
 * Public types of dgent's observability: the options every observed object takes (Store, event
 * logs, CachedAgent), what `stats()` and `health()` return, and what the `onOperation` hook hears.
 */

/** One finished operation, as the `onOperation` hook hears it. */
export interface OperationEvent {
  /** the method called: `'get'`, `'set'`, `'append'`, `'load'`, ... */
  op: string;
  /** what was called: `'store'`, `'cached-agent'`, or the log's backend (`'memory'`, `'file'`, `'sqlite'`, `'postgres'`, `'redis'`, `'eventstoredb'`) */
  target: string;
  /** wall time from the call to its settlement, ms (for `read`/`readAll`: to the end of the iteration) */
  durationMs: number;
  /** what the operation threw or rejected with; undefined when it succeeded */
  error: unknown;
}

/**
 * Options of the observed objects (the Store, every event log, CachedAgent). `stats: true` turns on
 * counting and latency histograms for `stats()` (opt-in, like Caffeine's `recordStats()`: a wrapped
 * call costs two clock reads, a histogram record and a promise reaction). By default, with no hook
 * and OpenTelemetry absent (or `openTelemetry: false`), the object's methods stay exactly as they
 * are: no cost at all.
 */
export interface ObservabilityOptions {
  /** called after every operation (synchronously; a throw is reported as a process warning, never to the caller) */
  onOperation?: ((event: OperationEvent) => void) | undefined;
  /** count operations and record their latencies for `stats()` (default false: opt in) */
  stats?: boolean | undefined;
  /** spans and metrics through `@opentelemetry/api` when that package is installed (default true; absent = nothing happens) */
  openTelemetry?: boolean | undefined;
}

/** Counts and latency percentiles of one operation. Latencies in ms, from a 2-significant-digit HdrHistogram (±1%). */
export interface OperationStats {
  count: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Cache figures: `hitRatio` = hits / (hits + misses), 0 when there was no lookup. */
export interface CacheStats {
  hits: number;
  misses: number;
  hitRatio: number;
  /** CachedAgent: times the cached state was dropped (failed or ambiguous write, write-around, verify mismatch) */
  evictions: number;
}

/** What `stats()` returns: cumulative since the object was created. */
export interface Stats {
  target: string;
  /** false when the object was created with `stats: false`: counts only, no latencies */
  latencies: boolean;
  /** every operation called at least once */
  operations: Record<string, OperationStats>;
  /** sums over `operations` */
  total: { count: number; errors: number };
  /**
   * Store: `get`/`getMany` lookups that found a live value (hits) or not (misses). CachedAgent:
   * loads served from the cache (hits) or the backend (misses), and evictions. Absent on event logs.
   */
  cache?: CacheStats | undefined;
  /** Store with an `authorize` hook: its policy-decision cache (`authorizeCacheMs`, `authorizeCacheSize`) */
  accessCache?: AccessCacheStats | undefined;
}

/** The Store's policy-decision cache: `hitRatio` = hits / (hits + misses), 0 before the first decision. */
export interface AccessCacheStats {
  /** decisions answered from the cache */
  hits: number;
  /** decisions the hook was asked for (none cached, expired, or no caching: `authorizeCacheMs` 0) */
  misses: number;
  hitRatio: number;
  /** decisions dropped to keep the cache within `authorizeCacheSize` (least recently used first) */
  evictions: number;
  /** cached decisions found past their TTL (asked again; counted in misses too) */
  expired: number;
  /** times `policyChanged()` dropped the cache */
  invalidations: number;
  /** decisions cached now */
  size: number;
  /** the size bound */
  maxEntries: number;
}

/** Options of `health()`. */
export interface HealthOptions {
  /** give up after this long and report `ok: false` with a BackendUnavailableError (default 5000 ms) */
  timeoutMs?: number | undefined;
}

/** The result of `health()`: never a throw. `latencyMs` is the time of the ping. */
export type HealthResult =
  | { ok: true; target: string; latencyMs: number; details: Record<string, unknown> }
  | { ok: false; target: string; latencyMs: number; error: Error; details: Record<string, unknown> };
