/**
 * Backends for the DgentSaver tests: one log per backend for a test file, and savers on it that
 * each get their own stream prefix (state written by one saver is invisible to another).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEventLog, SqliteEventLog, type EventLog } from '../../src/index.js';
import { PostgresEventLog } from '../../src/postgres.js';
import { RedisEventLog } from '../../src/redis.js';
import { DgentSaver, type DgentSaverCommonOptions } from '../../src/langgraph.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './postgres.js';
import { REDIS_URL, uniqueName } from './services.js';
import { Redis } from 'ioredis';

/** Remove a test log's keys (SCAN on its hash-tagged prefix; never FLUSHDB: other files share the server). */
async function deleteRedisKeys(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true });
  await r.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `{${prefix}}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export type BackendName = 'memory' | 'sqlite' | 'postgres' | 'redis';

export interface LangGraphBackend {
  name: BackendName;
  log: EventLog;
  /** a saver with a fresh prefix on the shared log (or the given `prefix`: another instance on the same data) */
  saver(options?: DgentSaverCommonOptions): DgentSaver;
  /** what a child process needs to open the same log: { kind, path | url+schema | url+prefix } */
  spec: Record<string, string>;
  close(): Promise<void>;
}

let counter = 0;

export async function openBackend(name: BackendName): Promise<LangGraphBackend> {
  let log: EventLog;
  let cleanup = async (): Promise<void> => undefined;
  let spec: Record<string, string> = { kind: name };
  if (name === 'memory') log = new MemoryEventLog();
  else if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-langgraph-'));
    spec = { kind: name, path: join(dir, 'graph.db') };
    log = new SqliteEventLog({ path: spec.path! });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else if (name === 'postgres') {
    const schema = uniqueSchema('lg');
    spec = { kind: name, url: postgresUrl(), schema };
    log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    cleanup = () => dropSchemas([schema]);
  } else {
    const prefix = uniqueName('lg');
    spec = { kind: name, url: REDIS_URL, prefix };
    log = new RedisEventLog({ url: REDIS_URL, prefix });
    cleanup = () => deleteRedisKeys(prefix);
  }
  const run = uniqueName('s');
  return {
    name,
    log,
    spec,
    saver: (options) => new DgentSaver({ log, prefix: `${run}-${(counter += 1)}:`, ...options }),
    close: async () => {
      await log.close();
      await cleanup();
    },
  };
}
