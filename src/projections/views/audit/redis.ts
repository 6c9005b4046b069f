/**
 * The audit view in Redis (async only). Keys, under the projection's hash tag:
 * - `<audit>`: sorted set by position of the codec text of each AuditEntry
 * - `<akey>:<namespace>/<key>`: the positions of one key's entries (filter by key, purge)
 * - `<aobj>:<namespace>/<key>`: the positions of the relate / unrelate entries naming the key as
 *   their object (a key filter finds them too; the subject's purge and retention remove them)
 * - `<atime>`: sorted set of positions by time, kept only with a max age (retention)
 * Filters other than the key are evaluated in process over the position range.
 */
import { decode, encode } from '../../../core/codec.js';
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { RedisViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import type { RedisKeys } from '../kv/redis.js';
import { keyedBatch, planAudit } from '../plan.js';
import { auditObject, type AuditEntry, type AuditRetentionOptions } from '../rows.js';
import type { AuditFilter, AuditReader } from '../types.js';
import { auditMatches } from './memory.js';

/** Fold a batch into the Redis audit view. */
export async function applyAuditRedis(events: readonly RecordedEvent[], ctx: RedisViewContext, retention?: AuditRetentionOptions): Promise<void> {
  const A = ctx.key('audit');
  const akey = ctx.key('akey');
  const atime = ctx.key('atime');
  const aobj = ctx.key('aobj');
  const timed = retention?.maxAgeMs !== undefined;
  const plan = planAudit(keyedBatch(events), retention);
  /** drop an entry's position from the object index (relate / unrelate entries) */
  const unindexObject = async (pos: string): Promise<void> => {
    const [text] = await ctx.redis.zrangebyscore(A, pos, pos);
    const o = text === undefined ? undefined : auditObject(decode<AuditEntry>(text));
    if (o) ctx.call('ZREM', `${aobj}:${entryId(o.namespace, o.key)}`, pos);
  };
  for (const p of plan.purges) {
    const k = `${akey}:${entryId(p.namespace, p.key)}`;
    const positions = await ctx.redis.zrange(k, '0', '-1');
    for (const pos of positions) {
      await unindexObject(pos);
      ctx.call('ZREMRANGEBYSCORE', A, pos, pos);
    }
    if (timed && positions.length > 0) ctx.call('ZREM', atime, ...positions);
    ctx.call('DEL', k);
  }
  for (const a of plan.inserts) {
    if (plan.before !== undefined && a.time < plan.before) continue; // would be pruned below at once
    ctx.call('ZADD', A, a.position, encode(a));
    if (a.key !== null) ctx.call('ZADD', `${akey}:${entryId(a.namespace, a.key)}`, a.position, a.position);
    const o = auditObject(a);
    if (o) ctx.call('ZADD', `${aobj}:${entryId(o.namespace, o.key)}`, a.position, a.position);
    if (timed) ctx.call('ZADD', atime, a.time, a.position);
  }
  if (plan.before === undefined) return;
  const old = await ctx.redis.zrangebyscore(atime, '-inf', `(${plan.before}`);
  for (const pos of old) {
    const [text] = await ctx.redis.zrangebyscore(A, pos, pos);
    const e = text === undefined ? undefined : decode<AuditEntry>(text);
    if (e?.key != null) ctx.call('ZREM', `${akey}:${entryId(e.namespace, e.key)}`, pos);
    const o = e && auditObject(e);
    if (o) ctx.call('ZREM', `${aobj}:${entryId(o.namespace, o.key)}`, pos);
    ctx.call('ZREMRANGEBYSCORE', A, pos, pos);
  }
  if (old.length > 0) ctx.call('ZREMRANGEBYSCORE', atime, '-inf', `(${plan.before}`);
}

/** Reads of the Redis audit view. */
export class RedisAuditReader implements AuditReader {
  constructor(private readonly storage: RedisKeys, private readonly name = 'kv_audit') {}

  async audit(f: AuditFilter = {}): Promise<AuditEntry[]> {
    const A = await this.storage.key(this.name, 'audit');
    if (A === undefined) return [];
    const r = this.storage.redis;
    const want = f.limit ?? Infinity;
    const out: AuditEntry[] = [];
    if (f.key !== undefined && f.namespace !== undefined) {
      const [akey, aobj] = await Promise.all([this.storage.key(this.name, 'akey'), this.storage.key(this.name, 'aobj')]);
      const min = f.after === undefined ? '-inf' : `(${f.after}`;
      const id = entryId(f.namespace, f.key);
      const [own, named] = await Promise.all([r.zrangebyscore(`${akey}:${id}`, min, '+inf'), r.zrangebyscore(`${aobj}:${id}`, min, '+inf')]);
      // both in position order; a relation of the key to itself is in both
      const positions = [...new Set([...own, ...named].map(Number))].sort((x, y) => x - y);
      for (const pos of positions) {
        if (out.length >= want) break;
        const [t] = await r.zrangebyscore(A, pos, pos);
        const e = t === undefined ? undefined : decode<AuditEntry>(t);
        if (e && auditMatches(e, f)) out.push(e);
      }
      return out;
    }
    let min = f.after === undefined ? '-inf' : `(${f.after}`;
    while (out.length < want) {
      const page = await r.zrangebyscore(A, min, '+inf', 'WITHSCORES', 'LIMIT', 0, 1000);
      if (page.length === 0) break;
      for (let i = 0; i < page.length && out.length < want; i += 2) {
        const e = decode<AuditEntry>(page[i]!);
        if (auditMatches(e, f)) out.push(e);
      }
      min = `(${page[page.length - 1]}`;
    }
    return out;
  }

  async all(): Promise<AuditEntry[]> {
    return this.audit();
  }
}
