/**
 * A child process of store-relations-processes.int.test.ts: opens a Store on the SQLite file or
 * PostgreSQL schema given, relates `a -p-> b` in a transaction that also sets `c`, then unrelates
 * it, and prints `done <pid>`.
 * Usage: node --import tsx store-relations-child.ts '<json args>'
 */
import { SqliteEventLog, Store, type EventLog } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';

const a = JSON.parse(process.argv[2]!) as { backend: 'sqlite' | 'postgres'; path?: string; url?: string; schema?: string };
const log: EventLog = a.backend === 'sqlite' ? new SqliteEventLog({ path: a.path! }) : new PostgresEventLog({ connectionString: a.url!, schema: a.schema! });
const store = new Store({ log, actor: `pid${process.pid}`, sweepIntervalMs: 0 });
await store.transaction(async (tx) => {
  await tx.set('c', 1);
  await tx.relate('a', 'p', 'b');
});
await store.unrelate('a', 'p', 'b');
console.log(`done ${process.pid}`);
await store.close();
await log.close();
