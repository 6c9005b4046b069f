/**
 * `dgent/eventstoredb`: the EventStoreDB / KurrentDB event log. Importing this entry loads
 * `@eventstore/db-client` (an optional peer dependency); the core `dgent` entry never does.
 *
 * @example
 * ```ts
 * import { EventStoreDBEventLog } from 'dgent/eventstoredb';
 * const log = new EventStoreDBEventLog({ connectionString: 'esdb://localhost:2113?tls=false' });
 * const { revision, position } = await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }]);
 * ```
 */
export { EventStoreDBEventLog } from './streams/eventstoredb/eventstoredb-event-log.js';
export type { EventStoreDBEventLogOptions } from './streams/eventstoredb/eventstoredb-event-log.js';
