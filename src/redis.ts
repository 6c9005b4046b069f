/**
 * `dgent/redis`: the Redis backends. Importing this entry loads ioredis (an optional peer
 * dependency; without it the import fails with "npm install ioredis"); the core `dgent` entry never does.
 *
 * @example
 * ```ts
 * import { RedisAgent, RedisEventLog } from 'dgent/redis';
 * const agent = new RedisAgent<{ turns: string[] }>({ url: process.env.REDIS_URL, key: 'chat-42', ttlMs: 3_600_000 });
 * const log = new RedisEventLog({ url: process.env.REDIS_URL, prefix: 'myapp' });
 * ```
 */
export { RedisAgent } from './agents/redis-agent.js';
export type { RedisAgentOptions } from './agents/redis-agent.js';
export { FAIL_FAST_CLUSTER_OPTIONS, FAIL_FAST_OPTIONS } from './agents/redis/client.js';
export type { RedisClient, RedisConnectionOptions } from './agents/redis/client.js';
import type { RedisClient } from './agents/redis/client.js';

// Redis views get an ioredis client: typed as one wherever this entry is imported (the core entry
// declares the slot empty, so that its types need no ioredis).
declare module './projections/view-context.js' {
  interface RedisViewClientSlot {
    client: RedisClient;
  }
}
export { RedisEventLog } from './streams/redis/redis-event-log.js';
export type { RedisEventLogOptions } from './streams/redis/redis-event-log.js';
export { RedisViewStorage } from './projections/storage/redis-view-storage.js';
export type { RedisViewStorageOptions } from './projections/storage/redis-view-storage.js';
export { RedisKvReader } from './projections/views/kv/redis.js';
export { RedisVersionsReader } from './projections/views/versions/redis.js';
export { RedisAuditReader } from './projections/views/audit/redis.js';
export { RedisSnapshotStore } from './agents/stream/redis-snapshot-store.js';
export type { RedisSnapshotStoreOptions } from './agents/stream/redis-snapshot-store.js';
