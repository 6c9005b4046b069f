/**
 * EventStoreDBEventLog: the EventLog contract, unchanged, against
 * - the in-process gRPC PROTOCOL DOUBLE (test/support/esdb-double, always): proves the adapter's
 *   wire usage through the official client, not the semantics of a real server;
 * - a real EventStoreDB/KurrentDB server when DGENT_EVENTSTORE_URL is set, e.g.
 *   `docker run -p 2113:2113 eventstore/eventstore:latest --insecure --run-projections=All` and
 *   DGENT_EVENTSTORE_URL='esdb://localhost:2113?tls=false'. Each test gets its own stream prefix
 *   there, so runs never see each other's events.
 */
import { randomUUID } from 'node:crypto';
import { eventLogContract } from '../src/testing/event-log-contract.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double/esdb-double.js';

eventLogContract(
  'EventStoreDBEventLog over the gRPC protocol double (not a real server)',
  async () => {
    const double = await startEsdbDouble();
    return { open: () => new EventStoreDBEventLog({ connectionString: double.connectionString }), cleanup: () => double.stop() };
  },
  { reopen: true },
);

let shared: EsdbDouble | undefined;
eventLogContract(
  'EventStoreDBEventLog with a prefix, legacy Append RPC, over one shared protocol double',
  async () => {
    shared ??= await startEsdbDouble({ batchAppend: false });
    const prefix = `t-${randomUUID()}/`;
    const url = shared.connectionString;
    return { open: () => new EventStoreDBEventLog({ connectionString: url, prefix }) };
  },
  { reopen: true, runs: 20 },
);

const url = process.env.DGENT_EVENTSTORE_URL;
if (url) {
  eventLogContract(
    `EventStoreDBEventLog against the real server at ${url}`,
    () => {
      const prefix = `dgent-test-${randomUUID()}/`;
      return { open: () => new EventStoreDBEventLog({ connectionString: url, prefix }) };
    },
    { reopen: true },
  );
}
