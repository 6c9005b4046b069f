/** The KV view in memory: maps `kv` (`namespace/key` -> frozen KvEntry) and `ns` (namespace -> NamespaceEntry). */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { MemoryViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { matches, sortAndPage, validateFilters, validateQueryOptions } from '../filter.js';
import { compareKeys, prefixEnd } from '../keys.js';
import { kvBatch, planKv, touchedKeys } from '../plan.js';
import type { KvEntry, NamespaceEntry } from '../rows.js';
import type { KvReader, ListOptions, QueryOptions, ReadOptions, ValueFilter } from '../types.js';

/** Fold a batch into the memory KV view. */
export function applyKvMemory(events: readonly RecordedEvent[], ctx: MemoryViewContext): void {
  const kv = ctx.map<string, KvEntry>('kv');
  const ns = ctx.map<string, NamespaceEntry>('ns');
  const batch = kvBatch(events);
  const current = new Map<string, KvEntry>();
  for (const k of touchedKeys(batch)) {
    const e = kv.get(entryId(k.namespace, k.key));
    if (e) current.set(entryId(k.namespace, k.key), e);
  }
  const plan = planKv(batch, current);
  for (const n of plan.dropNamespaces) {
    ns.delete(n);
    for (const [id, e] of kv) if (e.namespace === n) kv.delete(id);
  }
  for (const d of plan.deletes) kv.delete(entryId(d.namespace, d.key));
  for (const u of plan.upserts) kv.set(entryId(u.namespace, u.key), Object.freeze(u));
  for (const n of plan.namespaces) if (!ns.has(n.namespace)) ns.set(n.namespace, Object.freeze(n));
}

/** What the memory readers need from MemoryViewStorage. */
export interface MemoryMaps {
  map<K = string, V = unknown>(projection: string, local: string): ReadonlyMap<K, V> | undefined;
}

const live = (e: KvEntry | undefined, now: number | undefined): KvEntry | undefined =>
  e && (now === undefined || e.expiresAt === null || e.expiresAt > now) ? e : undefined;

/** Reads of the memory KV view (the active generation of projection `name`). */
export class MemoryKvReader implements KvReader {
  constructor(private readonly storage: MemoryMaps, private readonly name = 'kv') {}

  private kv(): ReadonlyMap<string, KvEntry> {
    return this.storage.map<string, KvEntry>(this.name, 'kv') ?? new Map();
  }

  private scan(namespace: string, now: number | undefined): KvEntry[] {
    const out: KvEntry[] = [];
    for (const e of this.kv().values()) if (e.namespace === namespace && live(e, now)) out.push(e);
    return out;
  }

  async get(namespace: string, key: string, o?: ReadOptions): Promise<KvEntry | undefined> {
    return live(this.kv().get(entryId(namespace, key)), o?.now);
  }

  async getMany(namespace: string, keys: readonly string[], o?: ReadOptions): Promise<(KvEntry | undefined)[]> {
    const kv = this.kv();
    return keys.map((k) => live(kv.get(entryId(namespace, k)), o?.now));
  }

  async has(namespace: string, key: string, o?: ReadOptions): Promise<boolean> {
    return (await this.get(namespace, key, o)) !== undefined;
  }

  async list(namespace: string, o: ListOptions = {}): Promise<KvEntry[]> {
    const end = o.prefix === undefined ? undefined : prefixEnd(o.prefix);
    const rows = this.scan(namespace, o.now).filter(
      (e) =>
        (o.prefix === undefined || (compareKeys(e.key, o.prefix) >= 0 && (end === undefined || compareKeys(e.key, end) < 0))) &&
        (o.after === undefined || compareKeys(e.key, o.after) > 0),
    );
    rows.sort((a, b) => compareKeys(a.key, b.key));
    return o.limit === undefined ? rows : rows.slice(0, o.limit);
  }

  async query(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<KvEntry[]> {
    const fs = validateFilters(filters);
    const opts = validateQueryOptions(o);
    return sortAndPage(this.scan(namespace, opts.now).filter((e) => matches(e, fs)), opts);
  }

  async count(namespace: string, filters?: ValueFilter | readonly ValueFilter[], o?: ReadOptions): Promise<number> {
    const fs = validateFilters(filters);
    return this.scan(namespace, o?.now).filter((e) => matches(e, fs)).length;
  }

  async namespaces(): Promise<NamespaceEntry[]> {
    const m = this.storage.map<string, NamespaceEntry>(this.name, 'ns') ?? new Map();
    return [...m.values()].sort((a, b) => compareKeys(a.namespace, b.namespace));
  }

  async expired(now: number, limit: number): Promise<KvEntry[]> {
    const rows = [...this.kv().values()].filter((e) => e.expiresAt !== null && e.expiresAt <= now);
    rows.sort((a, b) => a.expiresAt! - b.expiresAt! || compareKeys(a.namespace, b.namespace) || compareKeys(a.key, b.key));
    return rows.slice(0, limit);
  }

  async all(): Promise<KvEntry[]> {
    return [...this.kv().values()];
  }
}
