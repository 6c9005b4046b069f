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
import { startEsdbDouble } from './support/esdb-double/esdb-double.js';

eventLogContract(
  'EventStoreDBEventLog over the gRPC protocol double (not a real server)',
  async () => {
    const double = await startEsdbDouble();
    return { open: () => new EventStoreDBEventLog({ connectionString: double.connectionString }), cleanup: () => double.stop() };
  },
  { reopen: true, requires: ['durable'] },
);

eventLogContract(
  'EventStoreDBEventLog with a prefix, legacy Append RPC, over the protocol double shared with another prefix',
  async () => {
    // a fresh double per place (one per test, one per model run): a double shared by every run grew to
    // thousands of events, each read client-side by every readAll
    const double = await startEsdbDouble({ batchAppend: false });
    const neighbour = new EventStoreDBEventLog({ connectionString: double.connectionString, prefix: 'neighbour/' });
    await neighbour.append('alpha', [{ type: 'A', data: 'not ours' }]); // under another prefix: the log must never show it
    await neighbour.close();
    const prefix = `t-${randomUUID()}/`;
    return { open: () => new EventStoreDBEventLog({ connectionString: double.connectionString, prefix }), cleanup: () => double.stop() };
  },
  { reopen: true, runs: 20, requires: ['durable'] },
);

const url = process.env.DGENT_EVENTSTORE_URL;
if (url) {
  eventLogContract(
    `EventStoreDBEventLog against the real server at ${url}`,
    () => {
      const prefix = `dgent-test-${randomUUID()}/`;
      return { open: () => new EventStoreDBEventLog({ connectionString: url, prefix }) };
    },
    { reopen: true, requires: ['durable'] },
  );
}
