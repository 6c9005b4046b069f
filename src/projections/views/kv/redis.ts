/**
 * The KV view in Redis (async only). Keys, all under the projection's hash tag:
 * - `<kv>:e:<namespace>/<key>`: the entry, codec text of the KvEntry (value key order and types kept)
 * - `<kv>:i:<namespace>`: sorted set of the namespace's keys (score 0: lexicographic, for list and cursors)
 * - `<ns>`: hash namespace -> codec text of the NamespaceEntry
 * - `<exp>`: sorted set of `namespace/key` by expiresAt (for the sweeper)
 * Queries and counts are evaluated in process (Redis has no JSON index here).
 */
import { decode, encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { RedisClient } from '../../../agents/redis/client.js';
import type { RedisViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { matches, sortAndPage, validateFilters, validateQueryOptions, type QueryOptions, type ValueFilter } from '../filter.js';
import { compareKeys, prefixEnd } from '../keys.js';
import { kvBatch, planKv, touchedKeys } from '../plan.js';
import type { KvEntry, NamespaceEntry } from '../rows.js';
import type { KvReader, ListOptions, ReadOptions } from '../types.js';

const entryKey = (kv: string, ns: string, key: string) => `${kv}:e:${ns}/${key}`;
const indexKey = (kv: string, ns: string) => `${kv}:i:${ns}`;

/** Fold a batch into the Redis KV view (writes are queued; the runner commits them in one script). */
export async function applyKvRedis(events: readonly RecordedEvent[], ctx: RedisViewContext): Promise<void> {
  const kv = ctx.key('kv');
  const nsKey = ctx.key('ns');
  const exp = ctx.key('exp');
  const batch = kvBatch(events);
  const keys = touchedKeys(batch);
  const current = new Map<string, KvEntry>();
  if (keys.length > 0) {
    const texts = await ctx.redis.mget(...keys.map((k) => entryKey(kv, k.namespace, k.key)));
    texts.forEach((t, i) => t !== null && current.set(entryId(keys[i]!.namespace, keys[i]!.key), decode<KvEntry>(t)));
  }
  const plan = planKv(batch, current);
  for (const ns of plan.dropNamespaces) {
    const members = await ctx.redis.zrange(indexKey(kv, ns), '0', '-1');
    for (let i = 0; i < members.length; i += 500) {
      const part = members.slice(i, i + 500);
      ctx.call('DEL', ...part.map((k) => entryKey(kv, ns, k)));
      ctx.call('ZREM', exp, ...part.map((k) => `${ns}/${k}`));
    }
    ctx.call('DEL', indexKey(kv, ns));
    ctx.call('HDEL', nsKey, ns);
  }
  for (const d of plan.deletes) {
    ctx.call('DEL', entryKey(kv, d.namespace, d.key));
    ctx.call('ZREM', indexKey(kv, d.namespace), d.key);
    ctx.call('ZREM', exp, entryId(d.namespace, d.key));
  }
  for (const u of plan.upserts) {
    ctx.call('SET', entryKey(kv, u.namespace, u.key), encode(u));
    ctx.call('ZADD', indexKey(kv, u.namespace), 0, u.key);
    if (u.expiresAt !== null) ctx.call('ZADD', exp, u.expiresAt, entryId(u.namespace, u.key));
    else ctx.call('ZREM', exp, entryId(u.namespace, u.key));
  }
  for (const n of plan.namespaces) ctx.call('HSETNX', nsKey, n.namespace, encode(n));
}

/** What the Redis readers need from RedisViewStorage. */
export interface RedisKeys {
  readonly redis: RedisClient;
  /** the key prefix `local` of the active generation of `projection`, or undefined before setup */
  key(projection: string, local: string): Promise<string | undefined>;
}

const live = (e: KvEntry | undefined, now: number | undefined): KvEntry | undefined =>
  e && (now === undefined || e.expiresAt === null || e.expiresAt > now) ? e : undefined;

/** Reads of the Redis KV view. */
export class RedisKvReader implements KvReader {
  constructor(private readonly storage: RedisKeys, private readonly name = 'kv') {}

  private async entries(ns: string, keys: readonly string[]): Promise<(KvEntry | undefined)[]> {
    const kv = await this.storage.key(this.name, 'kv');
    if (kv === undefined || keys.length === 0) return keys.map(() => undefined);
    const out: (KvEntry | undefined)[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const texts = await this.storage.redis.mget(...keys.slice(i, i + 500).map((k) => entryKey(kv, ns, k)));
      for (const t of texts) out.push(t === null ? undefined : decode<KvEntry>(t));
    }
    return out;
  }

  private async scan(namespace: string, now: number | undefined): Promise<KvEntry[]> {
    const kv = await this.storage.key(this.name, 'kv');
    if (kv === undefined) return [];
    const keys = await this.storage.redis.zrange(indexKey(kv, namespace), '0', '-1');
    return (await this.entries(namespace, keys)).filter((e): e is KvEntry => live(e, now) !== undefined);
  }

  async get(namespace: string, key: string, o?: ReadOptions): Promise<KvEntry | undefined> {
    return live((await this.entries(namespace, [key]))[0], o?.now);
  }

  async getMany(namespace: string, keys: readonly string[], o?: ReadOptions): Promise<(KvEntry | undefined)[]> {
    return (await this.entries(namespace, keys)).map((e) => live(e, o?.now));
  }

  async has(namespace: string, key: string, o?: ReadOptions): Promise<boolean> {
    return (await this.get(namespace, key, o)) !== undefined;
  }

  async list(namespace: string, o: ListOptions = {}): Promise<KvEntry[]> {
    const kv = await this.storage.key(this.name, 'kv');
    if (kv === undefined) return [];
    const end = o.prefix ? prefixEnd(o.prefix) : undefined;
    const max = end === undefined ? '+' : `(${end}`;
    let cursor = o.after;
    if (o.prefix && (cursor === undefined || compareKeys(cursor, o.prefix) < 0)) cursor = undefined;
    let min = cursor !== undefined ? `(${cursor}` : o.prefix ? `[${o.prefix}` : '-';
    const out: KvEntry[] = [];
    const want = o.limit ?? Infinity;
    // expired entries are skipped, so a page may need more than one round
    while (out.length < want) {
      const page = await this.storage.redis.zrangebylex(indexKey(kv, namespace), min, max, 'LIMIT', 0, Math.min(want - out.length, 500));
      if (page.length === 0) break;
      for (const e of await this.entries(namespace, page)) if (live(e, o.now)) out.push(e!);
      min = `(${page[page.length - 1]}`;
    }
    return out;
  }

  async query(namespace: string, filters: ValueFilter | readonly ValueFilter[] | undefined, o?: QueryOptions): Promise<KvEntry[]> {
    const fs = validateFilters(filters);
    const opts = validateQueryOptions(o);
    return sortAndPage((await this.scan(namespace, opts.now)).filter((e) => matches(e, fs)), opts);
  }

  async count(namespace: string, filters?: ValueFilter | readonly ValueFilter[], o?: ReadOptions): Promise<number> {
    const fs = validateFilters(filters);
    return (await this.scan(namespace, o?.now)).filter((e) => matches(e, fs)).length;
  }

  async namespaces(): Promise<NamespaceEntry[]> {
    const k = await this.storage.key(this.name, 'ns');
    if (k === undefined) return [];
    const all = await this.storage.redis.hvals(k);
    return all.map((t) => decode<NamespaceEntry>(t)).sort((a, b) => compareKeys(a.namespace, b.namespace));
  }

  async expired(now: number, limit: number): Promise<KvEntry[]> {
    const exp = await this.storage.key(this.name, 'exp');
    const kv = await this.storage.key(this.name, 'kv');
    if (exp === undefined || kv === undefined) return [];
    const ids = await this.storage.redis.zrangebyscore(exp, '-inf', now, 'LIMIT', 0, limit);
    if (ids.length === 0) return [];
    const texts = await this.storage.redis.mget(...ids.map((id) => `${kv}:e:${id}`));
    return texts.filter((t): t is string => t !== null).map((t) => decode<KvEntry>(t));
  }

  async all(): Promise<KvEntry[]> {
    const out: KvEntry[] = [];
    for (const n of await this.namespaces()) out.push(...(await this.scan(n.namespace, undefined)));
    return out;
  }
}
