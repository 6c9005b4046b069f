import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';
import { eventLogContract } from '../src/testing/index.js';

eventLogContract(
  'SqliteEventLog',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-log-'));
    return { open: () => new SqliteEventLog({ path: join(dir, 'events.db') }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
  { reopen: true, requires: ['appendMany', 'onAppend', 'durable'] },
);

eventLogContract(
  'SqliteEventLog (synchronous FULL, pages of 2)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-log-'));
    return { open: () => new SqliteEventLog({ path: join(dir, 'events.db'), synchronous: 'FULL', pageSize: 2, pollIntervalMs: 20 }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
  { reopen: true, runs: 20, requires: ['appendMany', 'onAppend', 'durable'] },
);
