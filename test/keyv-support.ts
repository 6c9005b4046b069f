/**
 * Backends of the Keyv adapter tests: one Store per backend (memory, a SQLite file in a temp
 * directory, a unique PostgreSQL schema), opened lazily and closed with its log afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryEventLog, SqliteEventLog, Store, type EventLog, type StoreClock } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';

export type KeyvBackend = 'memory' | 'sqlite' | 'postgres';

/** A Store on one backend and how to tear it down. */
export interface OpenedStore {
  store: Store;
  log: EventLog;
  close(): Promise<void>;
}

export function openStore(backend: KeyvBackend, extra: { clock?: StoreClock } = {}): OpenedStore {
  let log: EventLog;
  let cleanup: () => Promise<void> = async () => undefined;
  if (backend === 'memory') log = new MemoryEventLog();
  else if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-keyv-'));
    log = new SqliteEventLog({ path: join(dir, 'keyv.db') });
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  } else {
    const schema = uniqueSchema('dgkeyv');
    log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    cleanup = () => dropSchemas([schema]);
  }
  const store = new Store({ log, sweepIntervalMs: 0, ...extra });
  return {
    store,
    log,
    async close() {
      await store.close();
      await log.close();
      await cleanup();
    },
  };
}

/**
 * Titles of @keyv/test-suite 2.1.2 (the newest published, written for Keyv 5) whose assertion
 * contradicts Keyv 6's documented API, with the reason. They run as `it.fails`: they must still
 * fail the same way (Keyv 6's own in-memory adapter fails them too), and turn red if they pass.
 */
export const KEYV6_API_CHANGES: ReadonlyMap<string, string> = new Map([
  ['.deleteMany([keys]) with nonexistent keys resolves to false', 'Keyv 6 `delete([keys])` resolves to one boolean per key (`[false, false, false]`, truthy), not to one boolean'],
]);

/** vitest's module as @keyv/test-suite takes it, with the titles of KEYV6_API_CHANGES registered as `it.fails`. */
export function suiteTest(vitest: typeof import('vitest')): typeof import('vitest') {
  const it = ((name: string, ...rest: unknown[]) =>
    (KEYV6_API_CHANGES.has(name) ? vitest.it.fails : vitest.it)(name, ...(rest as [never]))) as unknown as typeof vitest.it;
  return { ...vitest, it: Object.assign(it, vitest.it) };
}
