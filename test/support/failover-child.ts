/**
 * A child process of the failover crash test: a fallback with writes: 'primary-then-queue' over a
 * SQLite SQLAgent (primary) and a RedisAgent (secondary, whose server the parent stopped), the
 * queue in a SqliteEventLog. Saves 1, 2, 3, ... and prints `ack <n>` after each resolved save,
 * until the parent kills it.
 * Usage: node --import tsx failover-child.ts '<json args>'
 */
import { SQLAgent, SqliteEventLog, fallback } from '../../src/index.js';
import { RedisAgent } from '../../src/redis.js';

interface Args {
  queuePath: string;
  sqlitePath: string;
  redisUrl: string;
  key: string;
}

const a = JSON.parse(process.argv[2]!) as Args;
const queue = new SqliteEventLog({ path: a.queuePath });
const agent = fallback<number>([new SQLAgent<number>({ path: a.sqlitePath, id: a.key }), new RedisAgent<number>({ url: a.redisUrl, key: a.key, maxHistory: 100_000 })], {
  writes: 'primary-then-queue',
  queue,
});
for (let n = 1; ; n++) {
  await agent.save(n);
  process.stdout.write(`ack ${n}\n`);
}
