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

export type BackendName = 'memory' | 'sqlite' | 'postgres' | 'redis';

export interface LangGraphBackend {
  name: BackendName;
  log: EventLog;
  /** a saver with a fresh prefix on the shared log */
  saver(options?: DgentSaverCommonOptions): DgentSaver;
  close(): Promise<void>;
}

let counter = 0;

export async function openBackend(name: BackendName): Promise<LangGraphBackend> {
  let log: EventLog;
  let cleanup = async (): Promise<void> => undefined;
  if (name === 'memory') log = new MemoryEventLog();
  else if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-langgraph-'));
    log = new SqliteEventLog({ path: join(dir, 'graph.db') });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else if (name === 'postgres') {
    const schema = uniqueSchema('lg');
    log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    cleanup = () => dropSchemas([schema]);
  } else {
    const prefix = uniqueName('lg');
    log = new RedisEventLog({ url: REDIS_URL, prefix });
  }
  const run = uniqueName('s');
  return {
    name,
    log,
    saver: (options) => new DgentSaver({ ...options, log, prefix: `${run}-${(counter += 1)}:` }),
    close: async () => {
      await log.close();
      await cleanup();
    },
  };
}
