/**
 * A child process of the Store process tests: opens a Store on the given backend and either
 * increments one counter `n` times (`incr`) or sets one key (`set`), then prints `done <value>`.
 * Usage: node --import tsx store-child.ts '<json args>'
 */
import { SqliteEventLog, Store, type EventLog, type ViewStorage } from '../../src/index.js';
import { PostgresEventLog } from '../../src/postgres.js';
import { RedisEventLog, RedisViewStorage } from '../../src/redis.js';

interface Args {
  backend: 'sqlite' | 'postgres' | 'redis';
  path?: string;
  url?: string;
  schema?: string;
  prefix?: string;
  action: 'incr' | 'set';
  n?: number;
  key: string;
  namespace?: string;
}

const a = JSON.parse(process.argv[2]!) as Args;
let log: EventLog;
let views: ViewStorage | undefined;
if (a.backend === 'sqlite') log = new SqliteEventLog({ path: a.path! });
else if (a.backend === 'postgres') log = new PostgresEventLog({ connectionString: a.url!, schema: a.schema! });
else {
  log = new RedisEventLog({ url: a.url!, prefix: a.prefix! });
  views = new RedisViewStorage({ url: a.url!, prefix: `${a.prefix!}v` });
}
const store = new Store({ log, views, actor: `pid${process.pid}`, sweepIntervalMs: 0 });
let value: unknown;
if (a.action === 'incr') {
  for (let i = 0; i < a.n!; i++) value = await store.incr(a.key, 1, { namespace: a.namespace });
} else {
  await store.set(a.key, { from: process.pid }, { namespace: a.namespace });
  value = process.pid;
}
console.log(`done ${JSON.stringify(value)}`);
await store.close();
await views?.close();
await log.close();
