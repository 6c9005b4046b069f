/**
 * DgentStore: LangGraph's long-term memory store (`BaseStore` of `@langchain/langgraph-checkpoint`)
 * on the dgent Store. Each LangGraph namespace is one Store namespace (`lg.users.42`, see
 * dgent-store-names.ts), each item one key, so every item has versions, an audit trail and time
 * travel, which no LangGraph store offers: `versions()` and `get(..., { at })`.
 */
import { BaseStore, validateNamespace, type GetOperation, type Item, type ListNamespacesOperation, type Operation, type OperationResults, type PutOperation, type SearchItem, type SearchOperation } from '@langchain/langgraph-checkpoint';
import { ClosedError, ConcurrencyError, ValidationError, shown } from '../core/errors.js';
import { Store } from '../store/store.js';
import type { AtTarget, QueryResult, StoreEntry, StoreVersion } from '../store/types.js';
import type { EventLog } from '../streams/event-log.js';
import { compileFilter, parseFilter, testAll } from './dgent-store-filter.js';
import { checkPrefix, checkStorePrefix, compareNamespaces, hasPrefix, hasSuffix, langgraphNamespace, storeNamespace } from './dgent-store-names.js';
import { checkStoreOptions, openStoreLog, type DgentStoreOptions } from './dgent-store-options.js';
import { checkIndexConfig, StoreVectors } from './dgent-store-vectors.js';

/** An item as DgentStore returns it: LangGraph's Item plus the Store version it is at. */
export interface DgentItem extends Item {
  /** the item's version (its Store key's revision; 1 = first put) */
  version: number;
}

/** A search result: a DgentItem with the similarity score of a `query` search. */
export interface DgentSearchItem extends DgentItem, SearchItem {}

/** One version of an item, newest first from {@link DgentStore.versions}. */
export interface DgentItemVersion {
  namespace: string[];
  key: string;
  version: number;
  /** the value at this version; null for a deletion or an expiry */
  value: Record<string, any> | null;
  deleted: boolean;
  /** when the item was created (its first put after the last deletion); null for a deletion */
  createdAt: Date | null;
  /** when this version was written */
  updatedAt: Date;
  /** the Store operation: 'set', 'delete', 'expire', ... */
  operation: string;
  actor: string | null;
}

/** A put with DgentStore's extra: a TTL in minutes (null: never expires; absent: the default TTL). */
export interface DgentPutOperation extends PutOperation {
  ttl?: number | null | undefined;
}

/** Metadata DgentStore keeps with each Store key: the vector fields of the version (semantic search). */
interface ItemMeta {
  lgVectors?: string[];
}

type Resolved = { store: Store; log: EventLog; owned: boolean; vectors: StoreVectors | undefined };

const MINUTE = 60_000;

/**
 * A LangGraph `BaseStore` on the dgent Store: pass it to `compile({ store })` and nodes reach it
 * through `config.store` / `getStore()`.
 *
 * @example
 * ```ts
 * import { DgentStore } from 'dgent/langgraph';
 * const store = new DgentStore({ path: './data/memory.db' }); // or { connectionString } / { log }
 * await store.put(['users', 'u1'], 'prefs', { theme: 'dark' });
 * const graph = workflow.compile({ store });
 * ```
 */
export class DgentStore extends BaseStore {
  private readonly prefix: string;
  private readonly defaultTtlMs: number | undefined;
  private readonly refreshOnRead: boolean;
  private readonly opening: Promise<Resolved>;
  private closed = false;

  constructor(private readonly options: DgentStoreOptions) {
    super();
    checkStoreOptions(options);
    this.prefix = checkStorePrefix(options.prefix ?? 'lg');
    this.defaultTtlMs = options.ttl?.defaultTtl === undefined ? undefined : options.ttl.defaultTtl * MINUTE;
    this.refreshOnRead = options.ttl?.refreshOnRead ?? false;
    if (options.index !== undefined) checkIndexConfig(options.index);
    this.opening = this.open();
    this.opening.catch(() => undefined); // reported by the first call
  }

  private async open(): Promise<Resolved> {
    const { log, owned } = await openStoreLog(this.options);
    const so = this.options.storeOptions ?? {};
    const sweep = this.options.ttl?.sweepIntervalMinutes;
    const store = new Store({ ...so, log, ...(sweep !== undefined && so.sweepIntervalMs === undefined ? { sweepIntervalMs: sweep * MINUTE } : {}) });
    const vectors = this.options.index ? new StoreVectors(this.options.index, log, `${this.prefix}:vectors`) : undefined;
    return { store, log, owned, vectors };
  }

  private async r(): Promise<Resolved> {
    if (this.closed) throw new ClosedError('DgentStore');
    return this.opening;
  }

  /** The underlying dgent Store (its namespaces are `<prefix>.<label>...`). */
  async store(): Promise<Store> {
    return (await this.r()).store;
  }

  private ns(namespace: readonly string[]): string {
    return storeNamespace(this.prefix, namespace);
  }

  private static item(namespace: readonly string[], e: StoreEntry): DgentItem {
    return { namespace: [...namespace], key: e.key, value: e.value as Record<string, any>, createdAt: new Date(e.createdAt), updatedAt: new Date(e.updatedAt), version: e.version };
  }

  // ---- BaseStore ----

  /**
   * Run operations: reads (get, search, listNamespaces) see the state before the batch; then the
   * puts and deletes are applied in order (the last one per item wins), one Store write each: a
   * batch is not atomic.
   */
  async batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>> {
    if (!Array.isArray(operations)) throw new ValidationError('batch needs an array of operations');
    const r = await this.r();
    // check every operation before running any: a bad one rejects the batch with nothing read or written
    const puts = new Map<string, DgentPutOperation>();
    const kinds = (operations as Operation[]).map((op) => {
      if (typeof op !== 'object' || op === null) throw new ValidationError('an operation must be an object');
      if ('namespacePrefix' in op) {
        checkPrefix(op.namespacePrefix, 'namespacePrefix');
        return 'search' as const;
      }
      if ('value' in op) {
        const ns = this.ns(op.namespace);
        this.checkKey(op.key);
        if (op.value !== null) this.checkValue(op.value);
        puts.set(JSON.stringify([ns, op.key]), op);
        return 'put' as const;
      }
      if ('key' in op) {
        this.ns(op.namespace);
        this.checkKey(op.key);
        return 'get' as const;
      }
      if ('limit' in op || 'matchConditions' in op || 'maxDepth' in op) return 'list' as const;
      throw new ValidationError('unknown operation: not a get, search, put or listNamespaces');
    });
    const reads = (operations as Operation[]).map((op, i) => {
      switch (kinds[i]) {
        case 'search': return this.searchOp(r, op as SearchOperation);
        case 'get': return this.getOp(r, op as GetOperation);
        case 'list': return this.listOp(r, op as ListNamespacesOperation);
        default: return Promise.resolve(undefined);
      }
    });
    const results = await Promise.all(reads);
    await this.applyPuts(r, [...puts.values()]);
    return results as OperationResults<Op>;
  }

  /**
   * The item, or null. DgentStore's extras: `at: { version } | { time }` returns the item as it was
   * then (time travel); `refreshTtl` overrides the `refreshOnRead` setting.
   */
  override async get(namespace: string[], key: string, options: { at?: AtTarget | undefined; refreshTtl?: boolean | undefined } = {}): Promise<DgentItem | null> {
    validateNamespace(namespace, { allowEmpty: true, allowReservedRoot: true });
    const r = await this.r();
    if (options.at !== undefined) return this.getAt(r, namespace, key, options.at);
    return this.getOp(r, { namespace, key }, options.refreshTtl);
  }

  /** Search a namespace prefix; see {@link DgentStore.batch} for the order of results and the filter operators. */
  override async search(namespacePrefix: string[], options: { filter?: Record<string, any>; limit?: number; offset?: number; query?: string; refreshTtl?: boolean | undefined } = {}): Promise<DgentSearchItem[]> {
    validateNamespace(namespacePrefix, { allowEmpty: true, allowReservedRoot: true });
    const { filter, limit = 10, offset = 0, query, refreshTtl } = options;
    return this.searchOp(await this.r(), { namespacePrefix, filter, limit, offset, query }, refreshTtl);
  }

  /** Put an item; `options.ttl` is its time to live in minutes (null: none; absent: the default). */
  override async put(namespace: string[], key: string, value: Record<string, any>, index?: false | string[], options: { ttl?: number | null | undefined } = {}): Promise<void> {
    validateNamespace(namespace);
    await this.batch([{ namespace, key, value, index, ttl: options.ttl } as DgentPutOperation]);
  }

  override async start(): Promise<void> {
    const r = await this.r();
    await r.store.ready();
  }

  /** Close the Store, the vector index and the log when the store opened it (a `{ log }` passed in stays open). */
  override async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    let r: Resolved;
    try {
      r = await this.opening;
    } catch {
      return;
    }
    await r.vectors?.close();
    await r.store.close();
    if (r.owned) await r.log.close();
  }

  // ---- history ----

  /** Versions of an item, newest first: puts, deletions and expiries, each with its time and actor. */
  async versions(namespace: string[], key: string, options: { limit?: number | undefined } = {}): Promise<DgentItemVersion[]> {
    validateNamespace(namespace, { allowEmpty: true, allowReservedRoot: true });
    const r = await this.r();
    const all = await this.history(r, namespace, key);
    return options.limit === undefined ? all : all.slice(0, options.limit);
  }

  private async history(r: Resolved, namespace: readonly string[], key: string): Promise<DgentItemVersion[]> {
    this.checkKey(key);
    const vs: StoreVersion[] = await r.store.versions(key, { namespace: this.ns(namespace) });
    const out: DgentItemVersion[] = [];
    let created: number | null = null;
    for (const v of [...vs].reverse()) {
      if (v.deleted) created = null;
      else created ??= v.time;
      out.push({
        namespace: [...namespace],
        key,
        version: v.version,
        value: v.deleted ? null : (v.value as Record<string, any>),
        deleted: v.deleted,
        createdAt: v.deleted || created === null ? null : new Date(created),
        updatedAt: new Date(v.time),
        operation: v.operation,
        actor: v.actor,
      });
    }
    return out.reverse();
  }

  private async getAt(r: Resolved, namespace: readonly string[], key: string, at: AtTarget): Promise<DgentItem | null> {
    const all = await this.history(r, namespace, key);
    let v: DgentItemVersion | undefined;
    if (typeof at === 'object' && at !== null && 'version' in at) {
      if (!Number.isInteger(at.version) || at.version < 1) throw new ValidationError(`at.version must be an integer >= 1, got ${shown(at.version)}`);
      v = all.find((x) => x.version === at.version);
    } else if (typeof at === 'object' && at !== null && 'time' in at) {
      const t = at.time instanceof Date ? at.time.getTime() : at.time;
      if (typeof t !== 'number' || !Number.isFinite(t)) throw new ValidationError('at.time must be a Date or epoch milliseconds');
      v = all.find((x) => x.updatedAt.getTime() <= t);
      if (v && !v.deleted) {
        // an expiry the sweeper had not yet recorded at `t`
        const meta = (await r.store.get(key, { namespace: this.ns(namespace), at: { version: v.version }, includeMetadata: true })) as StoreEntry | undefined;
        if (meta?.expiresAt != null && meta.expiresAt <= t) return null;
      }
    } else throw new ValidationError('at must be { version } or { time }');
    if (!v || v.deleted) return null;
    return { namespace: [...namespace], key, value: v.value!, createdAt: v.createdAt!, updatedAt: v.updatedAt, version: v.version };
  }

  // ---- operations ----

  private checkKey(key: unknown): void {
    if (typeof key !== 'string') throw new ValidationError(`an item key must be a string, got ${typeof key}`);
  }

  private checkValue(value: unknown): void {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ValidationError('an item value must be an object (or null to delete)');
  }

  private async getOp(r: Resolved, op: GetOperation, refresh?: boolean): Promise<DgentItem | null> {
    const ns = this.ns(op.namespace);
    this.checkKey(op.key);
    const e = await r.store.get(op.key, { namespace: ns, includeMetadata: true });
    if (!e) return null;
    if (refresh ?? this.refreshOnRead) await this.refresh(r, ns, [e]);
    return DgentStore.item(op.namespace, e);
  }

  /** Restart the TTL of items that have one (a new version with the same value). */
  private async refresh(r: Resolved, ns: string, entries: readonly StoreEntry[]): Promise<void> {
    for (const e of entries) {
      const ttlMs = (e.metadata as { lgTtlMs?: unknown } | null)?.lgTtlMs;
      if (e.expiresAt === null || typeof ttlMs !== 'number') continue;
      try {
        const { version } = await r.store.set(e.key, e.value, { namespace: ns, ttlMs, expectedVersion: e.version });
        const fields = (e.metadata as ItemMeta | null)?.lgVectors ?? [];
        if (r.vectors && fields.length) await r.vectors.retag(ns, e.key, version, fields);
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err; // written meanwhile: that write set its own TTL
      }
    }
  }

  private async namespaces(r: Resolved): Promise<string[][]> {
    const out: string[][] = [];
    for (const n of await r.store.listNamespaces()) {
      const lg = langgraphNamespace(this.prefix, n);
      if (lg) out.push(lg);
    }
    return out.sort(compareNamespaces);
  }

  private async listOp(r: Resolved, op: ListNamespacesOperation): Promise<string[][]> {
    const conds = op.matchConditions ?? [];
    for (const c of conds) {
      checkPrefix(c.path, `${c.matchType} of listNamespaces`);
      if (c.matchType !== 'prefix' && c.matchType !== 'suffix') throw new ValidationError(`unknown match type ${JSON.stringify(c.matchType)}`);
    }
    if (op.maxDepth !== undefined && (!Number.isInteger(op.maxDepth) || op.maxDepth < 1)) throw new ValidationError(`maxDepth must be an integer >= 1, got ${shown(op.maxDepth)}`);
    const { limit, offset } = page(op.limit ?? 100, op.offset ?? 0);
    const matching = (await this.namespaces(r)).filter((ns) => conds.every((c) => (c.matchType === 'prefix' ? hasPrefix(ns, c.path, true) : hasSuffix(ns, c.path))));
    // only namespaces holding live items (expired and deleted ones leave the Store namespace behind)
    const live = await Promise.all(matching.map(async (ns) => (await r.store.count(undefined, { namespace: this.ns(ns) })) > 0));
    let out = matching.filter((_, i) => live[i]);
    if (op.maxDepth !== undefined) {
      const seen = new Map<string, string[]>();
      for (const ns of out) {
        const t = ns.slice(0, op.maxDepth);
        seen.set(JSON.stringify(t), t);
      }
      out = [...seen.values()].sort(compareNamespaces);
    }
    return out.slice(offset, offset + limit);
  }

  /**
   * Items under a namespace prefix: namespaces in label order, then keys in code point order; with a
   * `query`, by similarity (best first), items without vectors after them. Filter conditions on plain
   * top-level fields with primitive operands run in the Store's query (SQL on SQLite and PostgreSQL).
   */
  private async searchOp(r: Resolved, op: SearchOperation, refresh?: boolean): Promise<DgentSearchItem[]> {
    const prefix = checkPrefix(op.namespacePrefix, 'namespacePrefix');
    const { pushed, residual } = compileFilter(parseFilter(op.filter));
    const { limit, offset } = page(op.limit ?? 10, op.offset ?? 0);
    const namespaces = (await this.namespaces(r)).filter((ns) => hasPrefix(ns, prefix));
    let picked: { ns: string[]; storeNs: string; key: string; score?: number }[];
    if (op.query !== undefined && op.query !== null && r.vectors) {
      picked = await this.rank(r, r.vectors, namespaces, pushed, residual, op.query, offset + limit);
      picked = picked.slice(offset, offset + limit);
    } else {
      picked = [];
      let skip = offset;
      let need = limit;
      for (const ns of namespaces) {
        if (need === 0) break;
        const storeNs = this.ns(ns);
        let rows: QueryResult[];
        if (residual.length === 0) {
          if (skip > 0) {
            const n = await r.store.count(pushed, { namespace: storeNs });
            if (n <= skip) {
              skip -= n;
              continue;
            }
          }
          rows = await r.store.query(pushed, { namespace: storeNs, offset: skip, limit: need });
        } else {
          rows = (await r.store.query(pushed, { namespace: storeNs })).filter((row) => testAll(row.value as Record<string, unknown>, residual));
          const n = rows.length;
          rows = rows.slice(skip, skip + need);
          if (n <= skip) {
            skip -= n;
            continue;
          }
        }
        skip = 0;
        need -= rows.length;
        for (const row of rows) picked.push({ ns, storeNs, key: row.key });
      }
    }
    return this.fetch(r, picked, refresh);
  }

  /** Candidates ranked by similarity, then those without vectors (in namespace and key order). */
  private async rank(r: Resolved, vectors: StoreVectors, namespaces: readonly string[][], pushed: ReturnType<typeof compileFilter>['pushed'], residual: ReturnType<typeof compileFilter>['residual'], query: string, want: number) {
    if (typeof query !== 'string') throw new ValidationError('search query must be a string');
    const candidates = new Map<string, { ns: string[]; storeNs: string; key: string; version: number }>();
    for (const ns of namespaces) {
      const storeNs = this.ns(ns);
      for (const row of await r.store.query(pushed, { namespace: storeNs })) {
        if (residual.length && !testAll(row.value as Record<string, unknown>, residual)) continue;
        candidates.set(`${storeNs}\0${row.key}`, { ns, storeNs, key: row.key, version: row.version });
      }
    }
    const current = new Map([...candidates].map(([id, c]) => [id, c.version]));
    const ranked = await vectors.rank(query, current);
    const out: { ns: string[]; storeNs: string; key: string; score?: number }[] = [];
    for (const h of ranked) {
      const c = candidates.get(h.id)!;
      out.push({ ns: c.ns, storeNs: c.storeNs, key: c.key, score: h.score });
      candidates.delete(h.id);
    }
    for (const c of candidates.values()) {
      if (out.length >= want) break;
      out.push({ ns: c.ns, storeNs: c.storeNs, key: c.key });
    }
    return out;
  }

  /** The picked items with their timestamps (one getMany per namespace); items deleted meanwhile are left out. */
  private async fetch(r: Resolved, picked: readonly { ns: string[]; storeNs: string; key: string; score?: number }[], refresh?: boolean): Promise<DgentSearchItem[]> {
    const byNs = new Map<string, string[]>();
    for (const p of picked) byNs.set(p.storeNs, [...(byNs.get(p.storeNs) ?? []), p.key]);
    const entries = new Map<string, StoreEntry>();
    await Promise.all(
      [...byNs].map(async ([storeNs, keys]) => {
        const got = await r.store.getMany(keys, { namespace: storeNs, includeMetadata: true });
        got.forEach((e, i) => e && entries.set(`${storeNs}\0${keys[i]}`, e));
        if (refresh ?? this.refreshOnRead) await this.refresh(r, storeNs, got.filter((e): e is StoreEntry => e !== undefined));
      }),
    );
    const out: DgentSearchItem[] = [];
    for (const p of picked) {
      const e = entries.get(`${p.storeNs}\0${p.key}`);
      if (!e) continue;
      const item: DgentSearchItem = DgentStore.item(p.ns, e);
      if (p.score !== undefined) item.score = p.score;
      out.push(item);
    }
    return out;
  }

  private async applyPuts(r: Resolved, puts: readonly DgentPutOperation[]): Promise<void> {
    if (puts.length === 0) return;
    const v = r.vectors;
    // embed first: a failing embedding model writes nothing
    const texts = v ? puts.map((op) => (op.value === null ? [] : v.texts(op.value, op.index))) : [];
    const embedded = v ? await v.embed(texts.flat().map((t) => t.text)) : new Map<string, number[]>();
    for (const [i, op] of puts.entries()) {
      const ns = this.ns(op.namespace);
      const before = v ? ((await r.store.get(op.key, { namespace: ns, includeMetadata: true })) as StoreEntry | undefined) : undefined;
      const oldFields = (before?.metadata as ItemMeta | null | undefined)?.lgVectors ?? [];
      if (op.value === null) {
        await r.store.delete(op.key, { namespace: ns });
        if (v) await v.remove(ns, op.key, oldFields);
        continue;
      }
      const ttlMs = op.ttl === null ? undefined : op.ttl !== undefined ? checkTtl(op.ttl) * MINUTE : this.defaultTtlMs;
      const fields = v ? texts[i]!.map((t) => t.field) : [];
      const metadata = { ...(v ? { lgVectors: fields } : {}), ...(ttlMs !== undefined ? { lgTtlMs: ttlMs } : {}) };
      const { version } = await r.store.set(op.key, op.value, { namespace: ns, metadata, ...(ttlMs !== undefined ? { ttlMs } : {}) });
      if (v) await v.replace(ns, op.key, version, texts[i]!.map((t) => ({ field: t.field, vector: embedded.get(t.text)! })), oldFields);
    }
  }
}

function checkTtl(ttl: unknown): number {
  if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) throw new ValidationError(`ttl must be a number of minutes > 0 (or null: no expiry), got ${shown(ttl)}`);
  return ttl;
}

function page(limit: unknown, offset: unknown): { limit: number; offset: number } {
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) throw new ValidationError(`limit must be an integer >= 0, got ${shown(limit)}`);
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new ValidationError(`offset must be an integer >= 0, got ${shown(offset)}`);
  return { limit, offset };
}
