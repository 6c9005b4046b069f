/**
 * `dgent/keyv`: a Keyv storage adapter over the dgent Store. Keyv (an optional peer: 5 or 6, the installed
 * major by default) keeps its API; every key it writes becomes a keyed event in the log, with
 * versions, an audit trail and time travel through the Store.
 *
 * @example
 * ```ts
 * import Keyv from 'keyv';
 * import { SqliteEventLog } from 'dgent';
 * import { KeyvDgent } from 'dgent/keyv';
 *
 * const adapter = new KeyvDgent({ log: new SqliteEventLog({ path: 'cache.db' }) });
 * const keyv = new Keyv({ store: adapter, namespace: 'cache' });
 * await keyv.set('answer', 42, 60_000);        // TTL 1 min
 * await adapter.versions('answer');            // its history, newest first
 * ```
 */
export { KeyvDgent } from './keyv/keyv-dgent.js';
export type { KeyvDgentOptions, KeyvDgentCommonOptions } from './keyv/keyv-dgent.js';
export type { KeyvDgentCapability, KeyvMethodInfo, KeyvStorageMethodName } from './keyv/capabilities.js';
