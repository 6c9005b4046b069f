/**
 * The Store: a keyed, namespaced key-value API over the event log. Writes append keyed events
 * (one stream per key, `kv:<namespace>/<key>`); reads come from the KV, versions and audit views.
 * So every key has versions, an audit trail and time travel. This class only wires the operation
 * groups (reads.ts, writes.ts, namespaces.ts, history.ts, update.ts, transaction.ts, ttl.ts,
 * subscribe.ts, purge.ts, store-agent.ts) to one shared {@link StoreContext}.
 *
 * @example
 * ```ts
 * import { SqliteEventLog, Store } from 'dgent';
 * const store = new Store({ log: new SqliteEventLog({ path: 'app.db' }) }); // views inline in app.db
 * await store.set('user:1', { name: 'Ada', age: 36 }, { namespace: 'users', actor: 'admin' });
 * await store.query({ path: 'age', op: 'gte', value: 18 }, { namespace: 'users' });
 * await store.versions('user:1', { namespace: 'users' });
 * await store.close();
 * ```
 */
import type { Metadata } from '../projections/keyed-events.js';
import type { ViewStorage } from '../projections/view-storage.js';
import type { RebuildOptions } from '../projections/runner/types.js';
import { ValidationError, shown } from '../core/errors.js';
import type { AuditEntry } from '../projections/views/rows.js';
import type { ValueFilter } from '../projections/views/filter.js';
import { StoreContext } from './context.js';
import { observeStore, storeHealth } from '../observability/observe.js';
import type { Instrumentation } from '../observability/instrumentation.js';
import type { HealthOptions, HealthResult, Stats } from '../observability/types.js';
import { audit, versions } from './history.js';
import { clear, createNamespace, deleteNamespace, listNamespaces } from './namespaces.js';
import { purge } from './purge.js';
import { relate, related, relatedTo, relationHistory, unrelate, type RelateResult, type RelationChange, type RelationEntry, type RelationHistoryOptions, type RelationKey } from './relations.js';
import { count, get, getMany, has, list, query } from './reads.js';
import { status } from './status.js';
import { StoreAgent, type StoreAgentOptions } from './store-agent.js';
import { subscribe, type StoreChange, type StoreUnsubscribe, type SubscribeFilter } from './subscribe.js';
import { transaction, type StoreTransaction } from './transaction.js';
import { Sweeper } from './ttl.js';
import type {
  AuditQuery,
  DeleteNamespaceOptions,
  DeleteOptions,
  GetOptions,
  IncrOptions,
  ListOptions,
  ListPage,
  OpOptions,
  QueryOptions,
  QueryResult,
  SetMetadataOptions,
  SetOptions,
  SetResult,
  StoreEntry,
  StoreOptions,
  StoreStatus,
  StoreVersion,
  VersionsOptions,
} from './types.js';
import { incr, update, type StoreRecipe } from './update.js';
import { del, deleteMany, getMetadata, set, setMany, setMetadata, type SetManyItem } from './writes.js';

/** The Store's views, in the order `rebuildViews` rebuilds them. */
export const STORE_VIEWS = ['kv', 'kv_versions', 'kv_audit', 'kv_relations'] as const;
/** One of the Store's views. */
export type StoreViewName = (typeof STORE_VIEWS)[number];

/** Options of {@link Store.rebuildViews}: `onProgress` receives the runner's RebuildProgress (its `name` is the view). */
export interface RebuildViewsOptions extends OpOptions, RebuildOptions {
  /** the views to rebuild (default all four: STORE_VIEWS) */
  only?: readonly StoreViewName[] | undefined;
}

/** The keyed, namespaced storage API over an event log and its views; see the file comment. */
export class Store {
  private readonly ctx: StoreContext;
  private readonly sweeper: Sweeper;
  private readonly obs: Instrumentation;

  constructor(options: StoreOptions) {
    // checked before the context starts opening the views
    const every = options?.sweepIntervalMs ?? 1000;
    if (typeof every !== 'number' || !Number.isFinite(every) || every < 0) throw new ValidationError(`Store: sweepIntervalMs must be a number >= 0 (0: no timer), got ${shown(options.sweepIntervalMs)}`);
    this.ctx = new StoreContext(options);
    this.obs = observeStore(this, options);
    this.sweeper = new Sweeper(this.ctx, every);
    this.ctx.ready.then(() => this.sweeper.start(), () => undefined);
  }

  /** The storage of the Store's views (the default one it opened, or the one passed), once `ready()` resolved. */
  get views(): ViewStorage {
    return this.ctx.storage;
  }

  /** The Store's clock (epoch ms): what TTLs and `expiresAt` are measured against. */
  now(): number {
    return this.ctx.now();
  }

  /** Resolves once the views are set up (every operation waits for it too); rejects with a setup error. */
  ready(): Promise<void> {
    return this.ctx.ready;
  }

  /** The value under `key`, or undefined when absent, deleted or expired; `at` travels in time; `includeMetadata` returns a {@link StoreEntry}. */
  get<T = unknown>(key: string, options: GetOptions & { includeMetadata: true }): Promise<StoreEntry<T> | undefined>;
  get<T = unknown>(key: string, options?: GetOptions): Promise<T | undefined>;
  get(key: string, options?: GetOptions): Promise<unknown> {
    return get(this.ctx, key, options);
  }

  has(key: string, options?: OpOptions): Promise<boolean> {
    return has(this.ctx, key, options);
  }

  /** Values (or undefined) in the order of `keys`; `includeMetadata: true` resolves to {@link StoreEntry} objects. */
  getMany<T = unknown>(keys: readonly string[], options: OpOptions & { includeMetadata: true }): Promise<(StoreEntry<T> | undefined)[]>;
  getMany<T = unknown>(keys: readonly string[], options?: OpOptions & { includeMetadata?: boolean | undefined }): Promise<(T | undefined)[]>;
  getMany<T = unknown>(keys: readonly string[], options?: OpOptions & { includeMetadata?: boolean | undefined }): Promise<unknown[]> {
    return getMany(this.ctx, keys, options) as Promise<(T | undefined)[]>;
  }

  /** Write a value; resolves to its version (the key's stream revision). */
  set(key: string, value: unknown, options?: SetOptions): Promise<SetResult> {
    return set(this.ctx, key, value, options);
  }

  /** Delete a key; false when it had no live value (nothing appended). */
  delete(key: string, options?: DeleteOptions): Promise<boolean> {
    return del(this.ctx, key, options);
  }

  /** Set several keys; atomic (one appendMany) on logs that have it, else one append per key. */
  setMany(items: readonly (SetManyItem | readonly [string, unknown])[], options?: OpOptions): Promise<SetResult[]> {
    return setMany(this.ctx, items, options);
  }

  deleteMany(keys: readonly string[], options?: OpOptions): Promise<number> {
    return deleteMany(this.ctx, keys, options);
  }

  /** A page of keys in code point order; pass `cursor` back for the next page. */
  list(options?: ListOptions): Promise<ListPage> {
    return list(this.ctx, options);
  }

  /** Keys whose values match every filter (pushed down to SQL on SQLite and PostgreSQL views). */
  query<T = unknown>(filter: ValueFilter | readonly ValueFilter[] | undefined, options?: QueryOptions): Promise<QueryResult<T>[]> {
    return query(this.ctx, filter, options) as Promise<QueryResult<T>[]>;
  }

  count(filter?: ValueFilter | readonly ValueFilter[], options?: OpOptions): Promise<number> {
    return count(this.ctx, filter, options);
  }

  createNamespace(name: string, options?: OpOptions): Promise<boolean> {
    return createNamespace(this.ctx, name, options);
  }

  deleteNamespace(name: string, options?: DeleteNamespaceOptions): Promise<boolean> {
    return deleteNamespace(this.ctx, name, options);
  }

  listNamespaces(options?: OpOptions): Promise<string[]> {
    return listNamespaces(this.ctx, options);
  }

  getMetadata(key: string, options?: OpOptions): Promise<Metadata | undefined> {
    return getMetadata(this.ctx, key, options);
  }

  setMetadata(key: string, metadata: Metadata, options?: SetMetadataOptions): Promise<SetResult> {
    return setMetadata(this.ctx, key, metadata, options);
  }

  /** Delete every key of the namespace (it stays); resolves to the number deleted. */
  clear(options?: OpOptions): Promise<number> {
    return clear(this.ctx, options);
  }

  status(): Promise<StoreStatus> {
    return status(this.ctx, this.sweeper);
  }

  /** The versions of a key, newest first (deletions and expiries included, as `deleted`). */
  versions<T = unknown>(key: string, options?: VersionsOptions): Promise<StoreVersion<T>[]> {
    return versions(this.ctx, key, options) as Promise<StoreVersion<T>[]>;
  }

  /** Audit entries, oldest first. */
  audit(filter?: AuditQuery): Promise<AuditEntry[]> {
    return audit(this.ctx, filter);
  }

  /** Run `fn` as one atomic, optimistic transaction (retried on conflict, then ConcurrencyError). */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T> | T, options?: OpOptions): Promise<T> {
    return transaction(this.ctx, fn, options);
  }

  /** Read-modify-write with immer; the event holds the patches. Resolves to the new value. */
  update<T = unknown>(key: string, recipe: StoreRecipe<T>, options?: OpOptions): Promise<T> {
    return update(this.ctx, key, recipe, options);
  }

  /** An atomic counter: add `by` (default 1) and resolve to the new number. */
  incr(key: string, by?: number, options?: IncrOptions): Promise<number> {
    return incr(this.ctx, key, by, options);
  }

  /** Hear changes, from this and other processes. */
  subscribe(filter: SubscribeFilter, listener: (change: StoreChange) => void | Promise<void>): StoreUnsubscribe {
    return subscribe(this.ctx, filter, listener);
  }

  /** Erase a key's values from the log and the views (an audit entry without data stays). */
  purge(key: string, options?: OpOptions): Promise<void> {
    return purge(this.ctx, key, options);
  }

  /**
   * Relate two live keys: `subject -predicate-> object` (StateNotFoundError when one is absent or expired).
   * A key is a key of `options.namespace` or `{ namespace, key }`. Resolves to the relation's version;
   * `written: false` when it was already related (nothing appended). Deleting, expiring or purging
   * either key removes the relation in the same append.
   *
   * @example
   * ```ts
   * await store.relate('ada', 'follows', 'grace', { namespace: 'users' });
   * await store.related('ada', 'follows', { namespace: 'users' }); // [{ subject, predicate, object: { namespace: 'users', key: 'grace' }, ... }]
   * ```
   */
  relate(subject: RelationKey, predicate: string, object: RelationKey, options?: OpOptions): Promise<RelateResult> {
    return relate(this.ctx, subject, predicate, object, options);
  }

  /** Remove a relation; false when it was not there (nothing appended). */
  unrelate(subject: RelationKey, predicate: string, object: RelationKey, options?: OpOptions): Promise<boolean> {
    return unrelate(this.ctx, subject, predicate, object, options);
  }

  /** The relations of `subject` (with `predicate`, or all when undefined), by predicate then object: `.map((r) => r.object)`. */
  related(subject: RelationKey, predicate?: string, options?: OpOptions): Promise<RelationEntry[]> {
    return related(this.ctx, subject, predicate, options);
  }

  /** The inverse: relations pointing at `object` (with `predicate`, or all), by predicate then subject: `.map((r) => r.subject)`. */
  relatedTo(object: RelationKey, predicate?: string, options?: OpOptions): Promise<RelationEntry[]> {
    return relatedTo(this.ctx, object, predicate, options);
  }

  /** The changes of one relation, newest first (relate, unrelate, removal with a key), with version, time, actor and operation. */
  relationHistory(subject: RelationKey, predicate: string, object: RelationKey, options?: RelationHistoryOptions): Promise<RelationChange[]> {
    return relationHistory(this.ctx, subject, predicate, object, options);
  }

  /** A DataAgent over one key (Versioned, update, subscribe). */
  agent<S>(key: string, options?: StoreAgentOptions<S>): StoreAgent<S> {
    return new StoreAgent<S>(this.ctx, key, options);
  }

  /** Append expiry events for every key expired by now (the sweeper does it every `sweepIntervalMs`); resolves to how many. */
  sweep(): Promise<number> {
    return this.sweeper.sweep();
  }

  /**
   * Rebuild the Store's views (STORE_VIEWS) from the log (blue-green: the live views keep serving until the
   * rebuilt ones switch in). An `admin` action on the default namespace. `only` rebuilds some
   * of them; `onProgress` hears from each at most every `progressEveryMs` (default 500) and at its end.
   */
  async rebuildViews(options: RebuildViewsOptions = {}): Promise<void> {
    const names = options.only ?? STORE_VIEWS;
    // checked before anything is rebuilt: a typo must not leave some views rebuilt and not others
    for (const name of names) if (!STORE_VIEWS.includes(name)) throw new ValidationError(`rebuildViews: unknown view ${JSON.stringify(name)}; the Store's views are ${STORE_VIEWS.join(', ')}`);
    await this.ctx.open();
    await this.ctx.authorize('admin', this.ctx.ns(options), undefined, options);
    for (const name of names) await this.ctx.runner.rebuild(name, { onProgress: options.onProgress, progressEveryMs: options.progressEveryMs });
  }

  /** Operation counts, errors, p50/p99 latencies, `get` hits and misses, and (with an `authorize` hook) the policy-decision cache's figures (docs/observability.md). */
  stats(): Stats {
    const s = this.obs.stats();
    if (s.latencies && this.ctx.access.active) s.accessCache = this.ctx.access.stats();
    return s;
  }

  /** Ping the log and the views: `{ ok: true, latencyMs, details }` or `{ ok: false, error }` (never throws). */
  health(options?: HealthOptions): Promise<HealthResult> {
    return storeHealth(this.ctx, this.obs, options);
  }

  /** Drop cached access decisions (after the policy behind `authorize` changed). */
  policyChanged(): void {
    this.ctx.access.policyChanged();
  }

  /** Stop the sweeper, subscriptions and the views' runner; close the view storage the Store opened (never the log). Idempotent. */
  async close(): Promise<void> {
    await this.sweeper.close();
    await this.ctx.close();
  }
}
