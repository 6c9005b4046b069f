/**
 * `KeyvDgent`: a Keyv 6 or Keyv 5 storage adapter over a dgent {@link Store} (the major of the
 * installed keyv by default; `keyvVersion` to choose).
 * Keyv's namespace is the Store namespace, Keyv's `expires` becomes the Store's TTL, and every
 * write is a keyed event in the log, so a key written through Keyv has versions, an audit trail
 * and time travel
 * ({@link KeyvDgent.versions}, {@link KeyvDgent.audit}, {@link KeyvDgent.getAt}, or the Store itself
 * as {@link KeyvDgent.store}).
 */
import { EventEmitter } from 'node:events';
import { ValidationError, shown } from '../core/errors.js';
import type { AuditEntry } from '../projections/views/rows.js';
import { DEFAULT_NAMESPACE } from '../store/context.js';
import { Store } from '../store/store.js';
import type { AtTarget, AuditQuery, OpOptions, StoreOptions, StoreVersion, VersionsOptions } from '../store/types.js';
import { keyvDgentCapability, type KeyvDgentCapability } from './capabilities.js';
import { planWrite, type WritePlan } from './expiry.js';
import { installedKeyvMajor } from './installed.js';
import { legacyPlan, prefixOf } from './legacy.js';

/** Options of {@link KeyvDgent}: an existing Store, or the options of a Store the adapter opens (and closes on `disconnect`). */
export type KeyvDgentOptions = KeyvDgentCommonOptions & ({ store: Store; log?: never } | (StoreOptions & { store?: never }));

export interface KeyvDgentCommonOptions {
  /** the Store namespace used while Keyv sets none (default: the Store's `'default'`) */
  defaultNamespace?: string | undefined;
  /** the actor written to the audit trail for every operation of this adapter */
  actor?: string | undefined;
  /** close the Store on `disconnect()` (default: true when the adapter opened the Store, false for a given one) */
  closeStoreOnDisconnect?: boolean | undefined;
  /** rows fetched per page by `iterator()` (default 100) */
  pageSize?: number | undefined;
  /**
   * the Keyv major that drives the adapter (default: the major of the `keyv` package installed
   * beside dgent, 6 when none is found). Keyv 5 passes a relative ttl instead of an absolute
   * `expires`, prefixes keys with `<namespace>:` and wants one boolean from `deleteMany`; with
   * `keyvVersion: 5` the adapter speaks that contract (see ./legacy.ts). Set it when the Keyv you
   * pass the adapter to is not the installed `keyv` (an alias such as `npm:keyv@5`).
   */
  keyvVersion?: 5 | 6 | undefined;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/**
 * A Keyv storage adapter over a dgent Store.
 *
 * @example
 * ```ts
 * import Keyv from 'keyv';
 * import { SqliteEventLog, Store } from 'dgent';
 * import { KeyvDgent } from 'dgent/keyv';
 *
 * const store = new Store({ log: new SqliteEventLog({ path: 'app.db' }) });
 * const adapter = new KeyvDgent({ store });
 * const keyv = new Keyv({ store: adapter, namespace: 'sessions' });
 * await keyv.set('s1', { user: 'ada' }, 60_000);
 * await adapter.versions('s1');          // every write of s1, newest first
 * ```
 */
export class KeyvDgent extends EventEmitter {
  /** the Store every operation goes to: versions, audit, time travel, queries and subscriptions of Keyv's keys */
  readonly store: Store;
  /** Keyv sets this to its own namespace; `undefined` means {@link KeyvDgentCommonOptions.defaultNamespace} */
  namespace: string | undefined;
  /** adapter options, as Keyv adapters expose them (`dialect: 'dgent'`) */
  readonly opts: Record<string, unknown>;
  private readonly defaultNamespace: string | undefined;
  private readonly actor: string | undefined;
  private readonly closeStore: boolean;
  private readonly pageSize: number;
  private readonly caps = keyvDgentCapability();
  private readonly v5: boolean;

  constructor(options: KeyvDgentOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new ValidationError('KeyvDgent needs options: { store } or the options of a Store ({ log, ... })');
    const given = options.store;
    if (given !== undefined && !(given instanceof Store)) throw new ValidationError('KeyvDgent: `store` must be a dgent Store (pass Keyv this adapter, not the other way round)');
    if (given === undefined && (options as StoreOptions).log === undefined) throw new ValidationError('KeyvDgent needs `store` (a dgent Store) or `log` (an EventLog to open a Store on)');
    const pageSize = options.pageSize ?? 100;
    if (!Number.isInteger(pageSize) || pageSize < 1) throw new ValidationError(`KeyvDgent: pageSize must be an integer >= 1, got ${shown(pageSize)}`);
    if (options.actor !== undefined && typeof options.actor !== 'string') throw new ValidationError('KeyvDgent: actor must be a string');
    if (options.keyvVersion !== undefined && options.keyvVersion !== 5 && options.keyvVersion !== 6) throw new ValidationError(`KeyvDgent: keyvVersion must be 5 or 6, got ${shown(options.keyvVersion)}`);
    this.v5 = (options.keyvVersion ?? installedKeyvMajor() ?? 6) === 5;
    this.store = given ?? new Store(options as StoreOptions);
    this.defaultNamespace = options.defaultNamespace;
    this.actor = options.actor;
    this.closeStore = options.closeStoreOnDisconnect ?? given === undefined;
    this.pageSize = pageSize;
    this.namespace = undefined;
    // Keyv 5 reads opts.url in its constructor (to decide whether an adapter is iterable)
    this.opts = { dialect: 'dgent', url: 'dgent:' };
  }

  // Node's listeners typed as Keyv's IEventEmitter wants them (Node says Function[]), so that the
  // class is assignable to keyv's KeyvStorageAdapter type too
  override listeners(event: string | symbol): Listener[] {
    return super.listeners(event) as Listener[];
  }

  override rawListeners(event: string | symbol): Listener[] {
    return super.rawListeners(event) as Listener[];
  }

  /** Keyv 6 reads this: all storage methods, and `expires: true` (absolute expiry, enforced by the Store's TTL). */
  get capabilities(): KeyvDgentCapability {
    return this.caps;
  }

  /** The Store options of one operation: the current namespace and the adapter's actor. */
  private op(): OpOptions {
    return { namespace: this.namespace ?? this.defaultNamespace, actor: this.actor };
  }

  /** The Store key of a key from Keyv: Keyv 5's `<namespace>:` prefix removed (the namespace is the Store's). */
  private k(key: string): string {
    if (!this.v5 || typeof key !== 'string') return key;
    const prefix = prefixOf(this.namespace);
    return prefix !== undefined && key.startsWith(prefix) ? key.slice(prefix.length) : key;
  }

  private ks(keys: string[]): string[] {
    if (!Array.isArray(keys)) throw new ValidationError('expected an array of keys');
    return this.v5 ? keys.map((key) => this.k(key)) : keys;
  }

  /** Keyv 6: an absolute `expires` (checked against the Store's clock); Keyv 5: a relative ttl. */
  private plan(third: unknown): WritePlan {
    return this.v5 ? legacyPlan(third) : planWrite(third, this.store.now());
  }

  /** The stored (Keyv-encoded) value, or undefined when absent, deleted or expired. */
  async get<Value>(key: string): Promise<Value | undefined> {
    return this.store.get<Value>(this.k(key), this.op());
  }

  async getMany<Value>(keys: string[]): Promise<(Value | undefined)[]> {
    return this.store.getMany<Value>(this.ks(keys), this.op());
  }

  async has(key: string): Promise<boolean> {
    return this.store.has(this.k(key), this.op());
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    // a stored value is never undefined (the codec has no undefined at the top), so presence is "not undefined"
    return (await this.store.getMany(this.ks(keys), this.op())).map((v) => v !== undefined);
  }

  /** Store `value` until `expires` (epoch ms; undefined = no expiry). An `expires` already past deletes the key. */
  async set(key: string, value: unknown, expires?: number): Promise<boolean> {
    const plan = this.plan(expires);
    if (plan.kind === 'expired') {
      await this.store.delete(this.k(key), this.op());
      return true;
    }
    await this.store.set(this.k(key), value, { ...this.op(), ttlMs: plan.ttlMs, expiresAt: plan.expiresAt });
    return true;
  }

  /**
   * Store several entries in one atomic append on logs with `appendMany` (memory, SQLite,
   * PostgreSQL); entries already expired are deleted instead. A key given twice keeps the last value.
   */
  async setMany(entries: { key: string; value: unknown; expires?: number | undefined; ttl?: number | undefined }[]): Promise<boolean[]> {
    if (!Array.isArray(entries)) throw new ValidationError('setMany needs an array of { key, value, expires? }');
    const last = new Map<string, { value: unknown; plan: WritePlan & { kind: 'set' } } | 'expired'>();
    for (const e of entries) {
      if (e === null || typeof e !== 'object') throw new ValidationError('setMany needs an array of { key, value, expires? }');
      const plan = this.plan(this.v5 ? e.ttl : e.expires);
      const key = this.k(e.key);
      last.delete(key); // keep the map in the order of the last occurrence
      last.set(key, plan.kind === 'expired' ? 'expired' : { value: e.value, plan });
    }
    const live = [...last].flatMap(([key, p]) => (p === 'expired' ? [] : [{ key, value: p.value, ttlMs: p.plan.ttlMs, expiresAt: p.plan.expiresAt }]));
    const expired = [...last].flatMap(([key, p]) => (p === 'expired' ? [key] : []));
    if (expired.length === 0) await this.store.setMany(live, this.op());
    else {
      await this.store.transaction(async (tx) => {
        for (const it of live) await tx.set(it.key, it.value, { ttlMs: it.ttlMs, expiresAt: it.expiresAt });
        for (const key of expired) await tx.delete(key);
      }, this.op());
    }
    return entries.map(() => true);
  }

  /** Delete a key; false when it had no live value. */
  async delete(key: string): Promise<boolean> {
    return this.store.delete(this.k(key), this.op());
  }

  /**
   * Delete several keys in one atomic append; one boolean per key, false for keys without a live
   * value (and for a repeated key). With `keyvVersion: 5`: one boolean, true when any was deleted.
   */
  async deleteMany(keys: string[]): Promise<boolean[]>;
  async deleteMany(keys: string[]): Promise<boolean[] | boolean> {
    if (!Array.isArray(keys)) throw new ValidationError('deleteMany needs an array of keys');
    const list = this.ks(keys);
    const out = list.length === 0 ? [] : await this.store.transaction(async (tx) => {
      const deleted: boolean[] = [];
      for (const key of list) deleted.push(await tx.delete(key));
      return deleted;
    }, this.op());
    return this.v5 ? out.includes(true) : out;
  }

  /** Delete every key of the current namespace (Keyv's) or, with none, of the default namespace. */
  async clear(): Promise<void> {
    await this.store.clear(this.op());
  }

  /**
   * `[key, value]` of every live key of the current namespace, in key order, page by page (stable
   * under concurrent writes). With `keyvVersion: 5` keys carry Keyv 5's `<namespace>:` prefix.
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value], void> {
    const o = namespace === undefined ? this.op() : { ...this.op(), namespace };
    const prefix = this.v5 ? (prefixOf(namespace ?? this.namespace) ?? '') : '';
    let cursor: string | undefined;
    do {
      const page = await this.store.list({ ...o, limit: this.pageSize, cursor });
      for (const item of page.items) yield [prefix + item.key, item.value as Value];
      cursor = page.cursor;
    } while (cursor !== undefined);
  }

  /** Close the Store when the adapter opened it (or `closeStoreOnDisconnect`); a given Store stays open for its owner. */
  async disconnect(): Promise<void> {
    if (this.closeStore) await this.store.close();
  }

  /** Every version of a key written through Keyv, newest first (values as Keyv encoded them). */
  versions<T = unknown>(key: string, options: Omit<VersionsOptions, 'namespace'> = {}): Promise<StoreVersion<T>[]> {
    return this.store.versions<T>(this.k(key), { ...this.op(), ...options, namespace: this.op().namespace });
  }

  /** The audit trail of the current namespace (or of one key), oldest first. */
  audit(query: Omit<AuditQuery, 'namespace'> = {}): Promise<AuditEntry[]> {
    return this.store.audit({ principal: this.actor, ...query, namespace: this.op().namespace ?? DEFAULT_NAMESPACE });
  }

  /** Time travel: the (Keyv-encoded) value of a key at a version or a time; undefined where it had none. */
  getAt<T = unknown>(key: string, at: AtTarget): Promise<T | undefined> {
    return this.store.get<T>(this.k(key), { ...this.op(), at });
  }
}
