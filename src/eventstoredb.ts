/**
 * `dgent/eventstoredb`: the EventStoreDB / KurrentDB event log. Importing this entry loads
 * `@eventstore/db-client` (an optional peer dependency; without it the import fails with "npm install
 * @eventstore/db-client"); the core `dgent` entry never does.
 *
 * @example
 * ```ts
 * import { EventStoreDBEventLog } from 'dgent/eventstoredb';
 * const log = new EventStoreDBEventLog({ connectionString: 'esdb://localhost:2113?tls=false' });
 * const { revision, position } = await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }]);
 * ```
 */
import { requireDriver } from './core/drivers.js';

// The driver is loaded before the adapter's modules, whose static imports of it Node would resolve
// (and fail on with a bare ERR_MODULE_NOT_FOUND) before any code of ours could name the package.
await requireDriver('dgent/eventstoredb', '@eventstore/db-client', () => import('@eventstore/db-client'));
const adapter = await import('./streams/eventstoredb/eventstoredb-event-log.js');

/** The EventLog on EventStoreDB / KurrentDB (see the module example). */
export const EventStoreDBEventLog = adapter.EventStoreDBEventLog;
/** An EventStoreDBEventLog instance. */
export type EventStoreDBEventLog<E extends import('./streams/event-log.js').NewEvent = import('./streams/event-log.js').NewEvent> = import('./streams/eventstoredb/eventstoredb-event-log.js').EventStoreDBEventLog<E>;
export type { EventStoreDBEventLogOptions } from './streams/eventstoredb/eventstoredb-event-log.js';
