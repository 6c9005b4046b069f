/**
 * `dgent/postgres`: the PostgreSQL backends. Requires the `pg` package (an optional peer
 * dependency; without it the import fails with "npm install pg"); the core `dgent` entry never imports it.
 *
 * @example
 * ```ts
 * import { PostgresEventLog } from 'dgent/postgres';
 * const log = new PostgresEventLog({ connectionString: 'postgres://postgres@127.0.0.1:5432/app' });
 * ```
 */
export { PostgresEventLog } from './streams/postgres/postgres-event-log.js';
export type { PostgresEventLogOptions, PostgresPool } from './streams/postgres/postgres-event-log.js';
export type { PostgresAppendTransaction } from './streams/postgres/append.js';
export { PostgresViewStorage } from './projections/storage/postgres-view-storage.js';
export type { PostgresViewStorageOptions } from './projections/storage/postgres-view-storage.js';
export { PostgresKvReader } from './projections/views/kv/postgres.js';
export { PostgresVersionsReader } from './projections/views/versions/postgres.js';
export { PostgresAuditReader } from './projections/views/audit/postgres.js';
export { PostgresSnapshotStore } from './agents/stream/postgres-snapshot-store.js';
export type { PostgresSnapshotStoreOptions, SnapshotPool } from './agents/stream/postgres-snapshot-store.js';
