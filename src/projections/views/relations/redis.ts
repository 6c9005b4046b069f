/**
 * The relations view in Redis (async only). Keys, all under the projection's hash tag:
 * - `<rel>`: hash relation id -> codec text of the RelationEntry
 * - `<sub>:<namespace>/<key>` and `<obj>:<namespace>/<key>`: sets of the relation ids where the key is
 *   subject / object (both directions, written by the same script as the hash)
 * - `<hist>:<relation id>`: sorted set by position of the codec text of each RelationChange
 * - `<hk>:<namespace>/<key>`: the relation ids with history naming the key (purge); `<hids>`: every id with history
 * - `<htime>`: with retention by age only, sorted set by time of `<position> <relation id>`, one per history row
 * Writes are queued and committed by the runner in one script; reads of committed state load the
 * rows a batch touches, and the batch is folded over them in process (./plan.ts).
 */
import { decode, encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { RedisViewContext } from '../../view-context.js';
import { relationId } from '../../keyed-events.js';
import type { RedisKeys } from '../kv/redis.js';
import { keyedBatch } from '../plan.js';
import { ageRuleCovers, planRelations, relationsNeeds } from './plan.js';
import { byAge, compareForward, compareInverse, keyId, relationIdOf, type KeyRef, type RelationChange, type RelationEntry, type RelationHistoryRetentionOptions } from './rows.js';
import type { RelationsReader } from './types.js';

/** The two ends of a relation id. */
function ends(id: string): [KeyRef, KeyRef] {
  const [sns, skey, , ons, okey] = JSON.parse(id) as string[];
  return [{ namespace: sns!, key: skey! }, { namespace: ons!, key: okey! }];
}

/** Fold a batch into the Redis relations view. */
export async function applyRelationsRedis(events: readonly RecordedEvent[], ctx: RedisViewContext, retention?: RelationHistoryRetentionOptions): Promise<void> {
  const R = ctx.key('rel');
  const sub = ctx.key('sub');
  const obj = ctx.key('obj');
  const hist = ctx.key('hist');
  const hk = ctx.key('hk');
  const hids = ctx.key('hids');
  const htime = ctx.key('htime');
  const timed = byAge(retention);
  const r = ctx.redis;
  const batch = keyedBatch(events);
  const needs = relationsNeeds(batch);
  const ids = new Set(needs.ids);
  for (const k of needs.keys) {
    for (const id of await r.smembers(`${sub}:${keyId(k)}`)) ids.add(id);
    for (const id of await r.smembers(`${obj}:${keyId(k)}`)) ids.add(id);
  }
  const loaded = new Map<string, RelationEntry>();
  const list = [...ids];
  for (let i = 0; i < list.length; i += 500) {
    const part = list.slice(i, i + 500);
    const texts = await r.hmget(R, ...part);
    texts.forEach((t, j) => t !== null && loaded.set(part[j]!, decode<RelationEntry>(t)));
  }
  if (needs.namespaces.length > 0) {
    let cursor = '0';
    do {
      const [next, flat] = await r.hscan(R, cursor, 'COUNT', 500);
      for (let i = 0; i < flat.length; i += 2) {
        const e = decode<RelationEntry>(flat[i + 1]!);
        if (needs.namespaces.includes(e.subject.namespace) || needs.namespaces.includes(e.object.namespace)) loaded.set(flat[i]!, e);
      }
      cursor = next;
    } while (cursor !== '0');
  }
  const plan = planRelations(batch, loaded, retention);
  for (const d of plan.deletes) {
    const id = relationIdOf(d);
    ctx.call('HDEL', R, id);
    ctx.call('SREM', `${sub}:${keyId(d.subject)}`, id);
    ctx.call('SREM', `${obj}:${keyId(d.object)}`, id);
  }
  for (const u of plan.upserts) {
    const id = relationIdOf(u);
    ctx.call('HSET', R, id, encode(u));
    ctx.call('SADD', `${sub}:${keyId(u.subject)}`, id);
    ctx.call('SADD', `${obj}:${keyId(u.object)}`, id);
  }
  /** ids whose committed history this batch drops (purged): their rows no longer count */
  const purgedIds = new Set<string>();
  for (const k of plan.purges) {
    for (const id of await r.smembers(`${hk}:${keyId(k)}`)) {
      purgedIds.add(id);
      if (timed) for (const pos of await r.zrange(`${hist}:${id}`, '0', '-1', 'WITHSCORES').then(scores)) ctx.call('ZREM', htime, `${pos} ${id}`);
      ctx.call('DEL', `${hist}:${id}`);
      ctx.call('SREM', hids, id);
      for (const end of ends(id)) ctx.call('SREM', `${hk}:${keyId(end)}`, id);
    }
    ctx.call('DEL', `${hk}:${keyId(k)}`);
  }
  /** this batch's new rows by relation id: position -> time */
  const added = new Map<string, Map<number, number>>();
  for (const c of plan.changes) {
    const id = relationIdOf(c);
    ctx.call('ZADD', `${hist}:${id}`, c.position, encode(c));
    ctx.call('SADD', `${hk}:${keyId(c.subject)}`, id);
    ctx.call('SADD', `${hk}:${keyId(c.object)}`, id);
    ctx.call('SADD', hids, id);
    if (timed) ctx.call('ZADD', htime, c.time, `${c.position} ${id}`);
    let m = added.get(id);
    if (!m) added.set(id, (m = new Map()));
    m.set(c.position, c.time);
  }
  if (plan.trims.length === 0 && plan.age.length === 0) return;
  // retention: the writes above are queued, so each relation's rows are its committed rows (unless purged) and this batch's
  const rowsOf = async (id: string): Promise<number[]> => {
    const committed = purgedIds.has(id) ? [] : await r.zrange(`${hist}:${id}`, '0', '-1', 'WITHSCORES').then(scores);
    return [...new Set([...committed, ...(added.get(id)?.keys() ?? [])])].sort((a, b) => a - b);
  };
  const drop = (id: string, pos: number): void => {
    ctx.call('ZREMRANGEBYSCORE', `${hist}:${id}`, pos, pos);
    if (timed) ctx.call('ZREM', htime, `${pos} ${id}`);
  };
  const dropped = new Set<string>();
  for (const t of plan.trims) {
    const id = relationIdOf(t);
    const rows = await rowsOf(id);
    for (const pos of rows.slice(0, Math.max(0, rows.length - t.keep))) {
      drop(id, pos);
      dropped.add(`${pos} ${id}`);
    }
  }
  for (const rule of plan.age) {
    const old: string[] = await r.zrangebyscore(htime, '-inf', `(${rule.before}`);
    for (const [id, m] of added) for (const [pos, time] of m) if (time < rule.before) old.push(`${pos} ${id}`);
    const newest = new Map<string, number>();
    for (const member of new Set(old)) {
      if (dropped.has(member)) continue;
      const cut = member.indexOf(' ');
      const pos = Number(member.slice(0, cut));
      const id = member.slice(cut + 1);
      if (!ageRuleCovers(rule, ends(id)[0].namespace)) continue;
      if (purgedIds.has(id) && !added.get(id)?.has(pos)) continue; // gone with its purge
      if (!newest.has(id)) newest.set(id, (await rowsOf(id)).at(-1) ?? -1);
      if (pos < newest.get(id)!) {
        drop(id, pos);
        dropped.add(member);
      }
    }
  }
}

/** The scores of a WITHSCORES reply. */
function scores(flat: string[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < flat.length; i += 2) out.push(Number(flat[i]));
  return out;
}

/** Reads of the Redis relations view. */
export class RedisRelationsReader implements RelationsReader {
  constructor(private readonly storage: RedisKeys, private readonly name = 'kv_relations') {}

  private async rows(set: 'sub' | 'obj', k: KeyRef, predicate: string | undefined): Promise<RelationEntry[]> {
    const [R, index] = await Promise.all([this.storage.key(this.name, 'rel'), this.storage.key(this.name, set)]);
    if (R === undefined || index === undefined) return [];
    const ids = (await this.storage.redis.smembers(`${index}:${keyId(k)}`)).filter((id) => predicate === undefined || (JSON.parse(id) as string[])[2] === predicate);
    if (ids.length === 0) return [];
    const texts = await this.storage.redis.hmget(R, ...ids);
    return texts.filter((t): t is string => t !== null).map((t) => decode<RelationEntry>(t));
  }

  async related(subject: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    return (await this.rows('sub', subject, predicate)).sort(compareForward);
  }

  async relatedTo(object: KeyRef, predicate?: string): Promise<RelationEntry[]> {
    return (await this.rows('obj', object, predicate)).sort(compareInverse);
  }

  async get(subject: KeyRef, predicate: string, object: KeyRef): Promise<RelationEntry | undefined> {
    const R = await this.storage.key(this.name, 'rel');
    if (R === undefined) return undefined;
    const t = await this.storage.redis.hget(R, relationId(subject, predicate, object));
    return t === null ? undefined : decode<RelationEntry>(t);
  }

  async history(subject: KeyRef, predicate: string, object: KeyRef, o: { limit?: number | undefined } = {}): Promise<RelationChange[]> {
    const hist = await this.storage.key(this.name, 'hist');
    if (hist === undefined) return [];
    const texts = await this.storage.redis.zrevrange(`${hist}:${relationId(subject, predicate, object)}`, 0, o.limit === undefined ? -1 : o.limit - 1);
    return texts.map((t) => decode<RelationChange>(t));
  }

  async all(): Promise<RelationEntry[]> {
    const R = await this.storage.key(this.name, 'rel');
    if (R === undefined) return [];
    return Object.values(await this.storage.redis.hgetall(R)).map((t) => decode<RelationEntry>(t));
  }

  async allHistory(): Promise<RelationChange[]> {
    const [hist, hids] = await Promise.all([this.storage.key(this.name, 'hist'), this.storage.key(this.name, 'hids')]);
    if (hist === undefined || hids === undefined) return [];
    const out: RelationChange[] = [];
    for (const id of await this.storage.redis.smembers(hids)) for (const t of await this.storage.redis.zrange(`${hist}:${id}`, '0', '-1')) out.push(decode<RelationChange>(t));
    return out;
  }
}
