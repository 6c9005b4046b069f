import { PostgresEventLog } from '../src/postgres.js';
import { eventLogContract } from '../src/testing/index.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

// the global setup guarantees a server (or fails under CI); this only guards runs without it
if (await requireService('PostgreSQL', postgresUrl())) {
  eventLogContract(
    'PostgresEventLog',
    () => {
      const schema = uniqueSchema('dgc');
      return {
        open: () => new PostgresEventLog({ connectionString: postgresUrl(), schema, maxConnections: 4 }),
        cleanup: () => dropSchemas([schema]),
      };
    },
    { reopen: true, requires: ['appendMany', 'onAppend', 'durable'] },
  );
}
