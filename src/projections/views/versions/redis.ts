/**
 * The versions view in Redis (async only). Keys, under the projection's hash tag:
 * - `<versions>:<namespace>/<key>`: sorted set by version of the codec text of each VersionEntry
 * - `<drops>`: hash namespace -> position of its last drop
 * - `<vtime>`: sorted set of `<version>:<namespace>/<key>` by time, kept only when a retention
 *   has a max age (so age pruning finds old rows without scanning every key)
 */
import { decode, encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { RedisViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { ms } from '../keys.js';
import type { RedisKeys } from '../kv/redis.js';
import { keyedBatch, planVersions, touchedKeys } from '../plan.js';
import type { KvEntry, VersionEntry, VersionsRetentionOptions } from '../rows.js';
import type { VersionsReader, VersionTarget } from '../types.js';
import { currentFromRow } from './memory.js';

const hasAge = (r: VersionsRetentionOptions | undefined): boolean =>
  r?.maxAgeMs !== undefined || Object.values(r?.namespaces ?? {}).some((x) => x.maxAgeMs !== undefined);

/** Fold a batch into the Redis versions view. */
export async function applyVersionsRedis(events: readonly RecordedEvent[], ctx: RedisViewContext, retention?: VersionsRetentionOptions): Promise<void> {
  const V = ctx.key('versions');
  const dropsKey = ctx.key('drops');
  const vtime = ctx.key('vtime');
  const timed = hasAge(retention);
  const r = ctx.redis;
  const batch = keyedBatch(events);
  const keys = touchedKeys(batch);
  const current = new Map<string, KvEntry>();
  if (keys.length > 0) {
    const drops = await r.hmget(dropsKey, ...keys.map((k) => k.namespace));
    const newest = await Promise.all(keys.map((k) => r.zrange(`${V}:${entryId(k.namespace, k.key)}`, '-1', '-1')));
    keys.forEach((k, i) => {
      const t = newest[i]![0];
      const c = currentFromRow(t === undefined ? undefined : decode<VersionEntry>(t), drops[i] === null ? undefined : Number(drops[i]));
      if (c) current.set(entryId(k.namespace, k.key), c);
    });
  }
  const plan = planVersions(batch, current, retention);
  for (const d of plan.drops) ctx.call('HSET', dropsKey, d.namespace, d.position);
  for (const p of plan.purges) {
    const id = entryId(p.namespace, p.key);
    if (timed) {
      const versions = (await r.zrange(`${V}:${id}`, '0', '-1', 'WITHSCORES')).filter((_, i) => i % 2 === 1);
      if (versions.length > 0) ctx.call('ZREM', vtime, ...versions.map((v) => `${v}:${id}`));
    }
    ctx.call('DEL', `${V}:${id}`);
  }
  const latest = new Map<string, number>();
  for (const row of plan.inserts) {
    const id = entryId(row.namespace, row.key);
    ctx.call('ZADD', `${V}:${id}`, row.version, encode(row));
    if (timed) ctx.call('ZADD', vtime, row.time, `${row.version}:${id}`);
    latest.set(id, row.version);
  }
  for (const t of plan.trims) {
    const id = entryId(t.namespace, t.key);
    if (timed) {
      const old = await r.zrangebyscore(`${V}:${id}`, '-inf', t.upTo, 'WITHSCORES');
      const versions = new Set([...old.filter((_, i) => i % 2 === 1), ...plan.inserts.filter((x) => entryId(x.namespace, x.key) === id && x.version <= t.upTo).map((x) => String(x.version))]);
      if (versions.size > 0) ctx.call('ZREM', vtime, ...[...versions].map((v) => `${v}:${id}`));
    }
    ctx.call('ZREMRANGEBYSCORE', `${V}:${id}`, '-inf', t.upTo);
  }
  if (plan.age.length === 0) return;
  // candidates: committed rows and this batch's rows older than the oldest threshold
  const floor = Math.max(...plan.age.map((a) => a.before));
  const members = new Set([
    ...(await r.zrangebyscore(vtime, '-inf', `(${floor}`)),
    ...plan.inserts.filter((x) => x.time < floor).map((x) => `${x.version}:${entryId(x.namespace, x.key)}`),
  ]);
  const times = new Map(plan.inserts.map((x) => [`${x.version}:${entryId(x.namespace, x.key)}`, x.time]));
  const scores = await Promise.all([...members].map(async (m) => times.get(m) ?? Number(await r.zscore(vtime, m))));
  let i = 0;
  for (const m of members) {
    const time = scores[i++]!;
    const colon = m.indexOf(':');
    const version = Number(m.slice(0, colon));
    const id = m.slice(colon + 1);
    const ns = id.slice(0, id.indexOf('/'));
    const rule = plan.age.find((a) => (a.namespace === null ? !a.except.includes(ns) : a.namespace === ns));
    if (!rule || time >= rule.before) continue;
    const newest = latest.get(id) ?? Number((await r.zrange(`${V}:${id}`, '-1', '-1', 'WITHSCORES'))[1] ?? -1);
    if (version >= newest) continue;
    ctx.call('ZREMRANGEBYSCORE', `${V}:${id}`, version, version);
    ctx.call('ZREM', vtime, m);
  }
}

/** Reads of the Redis versions view. */
export class RedisVersionsReader implements VersionsReader {
  constructor(private readonly storage: RedisKeys, private readonly name = 'kv_versions') {}

  private async range(namespace: string, key: string): Promise<VersionEntry[]> {
    const V = await this.storage.key(this.name, 'versions');
    if (V === undefined) return [];
    return (await this.storage.redis.zrange(`${V}:${entryId(namespace, key)}`, '0', '-1')).map((t) => decode<VersionEntry>(t));
  }

  async versions(namespace: string, key: string, o: { limit?: number | undefined; before?: number | undefined } = {}): Promise<VersionEntry[]> {
    const rows = (await this.range(namespace, key)).filter((v) => o.before === undefined || v.version < o.before).reverse();
    return o.limit === undefined ? rows : rows.slice(0, o.limit);
  }

  async at(namespace: string, key: string, target: VersionTarget): Promise<VersionEntry | undefined> {
    const rows = await this.range(namespace, key);
    for (let i = rows.length - 1; i >= 0; i--) {
      const v = rows[i]!;
      if ('version' in target ? v.version <= target.version : v.time <= ms(target.time)) return v;
    }
    return undefined;
  }

  async all(): Promise<VersionEntry[]> {
    const V = await this.storage.key(this.name, 'versions');
    if (V === undefined) return [];
    const out: VersionEntry[] = [];
    let cursor = '0';
    const pattern = `${V.replace(/[*?[\]\\]/g, '\\$&')}:*`;
    do {
      const [next, keys] = await this.storage.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      for (const k of keys) out.push(...(await this.storage.redis.zrange(k, '0', '-1')).map((t) => decode<VersionEntry>(t)));
    } while (cursor !== '0');
    return out;
  }
}
