import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import { eventLogContract } from '../src/testing/index.js';

eventLogContract(
  'FileEventLog',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-file-log-'));
    return { open: () => new FileEventLog({ dir }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
  { reopen: true, requires: ['appendMany', 'durable'] },
);

eventLogContract(
  'FileEventLog (tiny segments, reopened index)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-file-log-'));
    return { open: () => new FileEventLog({ dir, segmentSize: 512, cacheBytes: 1 }), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  },
  { reopen: true, runs: 20, requires: ['appendMany', 'durable'] },
);
