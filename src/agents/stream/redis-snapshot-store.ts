/**
 * RedisSnapshotStore: StreamAgent snapshots in Redis, so that an agent on a Redis log keeps its
 * snapshots on the same server and `dgent rebuild-snapshots` can rebuild them. Per stream (all keys
 * of one stream share a hash tag, so one slot on a cluster):
 * - `<prefix>:snap:{<h(stream)>}:i`: a hash, field `[version, revision]` (JSON) → `{ time, eventId }`;
 * - `<prefix>:snap:{<h(stream)>}:s`: a hash, the same fields → the encoded state;
 * - `<prefix>:snap:{<h(stream)>}:z:<h(version)>`: a sorted set of the revisions of one fold version,
 *   so `get` finds the latest at or below a revision in one ZREVRANGEBYSCORE.
 * `h` is a SHA-1 (hex) of the name: untrusted names never become key syntax. A put is one MULTI.
 *
 * @example
 * ```ts
 * import { RedisEventLog, RedisSnapshotStore } from 'dgent/redis';
 * const log = new RedisEventLog({ url: 'redis://127.0.0.1:6379', prefix: 'app' });
 * const snapshots = new RedisSnapshotStore({ url: 'redis://127.0.0.1:6379', prefix: 'app' });
 * ```
 */
import { createHash } from 'node:crypto';
import { ClosedError } from '../../core/errors.js';
import { quitClient, resolveClient, toDgentError, validatePrefix, type RedisClient, type RedisConnectionOptions } from '../redis/client.js';
import { maxRevisionOf, validateSnapshot, type SnapshotInfo, type SnapshotQuery, type SnapshotRecord, type SnapshotStore } from './snapshot-store.js';

/** Options of {@link RedisSnapshotStore}: a client you own (`redis`) or a `url`, and a key prefix (default `dgent`). */
export interface RedisSnapshotStoreOptions extends RedisConnectionOptions {
  prefix?: string | undefined;
}

const h = (s: string): string => createHash('sha1').update(s, 'utf8').digest('hex');

/** A {@link SnapshotStore} in Redis; see the file comment. */
export class RedisSnapshotStore implements SnapshotStore {
  private readonly client: RedisClient;
  private readonly owned: boolean;
  private readonly prefix: string;
  private closed = false;

  constructor(options: RedisSnapshotStoreOptions) {
    this.prefix = validatePrefix(options.prefix ?? 'dgent');
    const r = resolveClient(options, 'RedisSnapshotStore');
    this.client = r.client;
    this.owned = r.owned;
  }

  private keys(stream: string): { base: string; info: string; states: string } {
    const base = `${this.prefix}:snap:{${h(stream)}}`;
    return { base, info: `${base}:i`, states: `${base}:s` };
  }

  private async run<T>(doing: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ClosedError('RedisSnapshotStore');
    try {
      return await fn();
    } catch (e) {
      throw toDgentError(e, `RedisSnapshotStore ${doing}`, this.client);
    }
  }

  get(stream: string, query: SnapshotQuery): Promise<SnapshotRecord | undefined> {
    const max = maxRevisionOf(query);
    return this.run('get', async () => {
      const k = this.keys(stream);
      const [rev] = await this.client.zrevrangebyscore(`${k.base}:z:${h(query.version)}`, max === Number.MAX_SAFE_INTEGER ? '+inf' : Math.floor(max), '-inf', 'LIMIT', 0, 1);
      if (rev === undefined) return undefined;
      const field = JSON.stringify([query.version, Number(rev)]);
      const [info, state] = await Promise.all([this.client.hget(k.info, field), this.client.hget(k.states, field)]);
      if (info === null || state === null) return undefined; // deleted meanwhile
      return { ...toInfo(stream, field, info), state };
    });
  }

  put(snapshot: SnapshotRecord): Promise<void> {
    const s = validateSnapshot(snapshot);
    return this.run('put', async () => {
      const k = this.keys(s.stream);
      const field = JSON.stringify([s.version, s.revision]);
      await this.client
        .multi()
        .hset(k.info, field, JSON.stringify({ time: s.time.getTime(), eventId: s.eventId }))
        .hset(k.states, field, s.state)
        .zadd(`${k.base}:z:${h(s.version)}`, s.revision, String(s.revision))
        .exec();
    });
  }

  list(stream: string): Promise<SnapshotInfo[]> {
    return this.run('list', async () => {
      const all = await this.client.hgetall(this.keys(stream).info);
      return Object.entries(all)
        .map(([field, info]) => toInfo(stream, field, info))
        .sort((a, b) => a.revision - b.revision || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
    });
  }

  delete(stream: string): Promise<number> {
    return this.run('delete', async () => {
      const k = this.keys(stream);
      const fields = await this.client.hkeys(k.info);
      const versions = new Set(fields.map((f) => (JSON.parse(f) as [string, number])[0]));
      await this.client.del(k.info, k.states, ...[...versions].map((v) => `${k.base}:z:${h(v)}`));
      return fields.length;
    });
  }

  /** Quit the client if this store created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await quitClient(this.client);
  }
}

function toInfo(stream: string, field: string, info: string): SnapshotInfo {
  const [version, revision] = JSON.parse(field) as [string, number];
  const i = JSON.parse(info) as { time: number; eventId: string };
  return { stream, revision, version, time: new Date(i.time), eventId: i.eventId };
}
