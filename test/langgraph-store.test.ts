/**
 * DgentStore (dgent/langgraph) on memory and SQLite logs: the model test against LangGraph's
 * InMemoryStore (test/langgraph-store-model.ts), with and without semantic search, plus examples of
 * what the model does not cover: hostile labels on the Store, invalid input, TTL under a fake clock,
 * versions and time travel, vectors of deleted items, filters pushed down to the Store's query.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { MemoryEventLog, SqliteEventLog, type EventLog } from '../src/index.js';
import { runModel } from './langgraph-store-model.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-lgstore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logs: Record<string, () => EventLog> = {
  memory: () => new MemoryEventLog(),
  sqlite: () => new SqliteEventLog({ path: join(dir, `store-${Math.random().toString(36).slice(2)}.db`) }),
};

for (const [name, open] of Object.entries(logs)) {
  describe(`DgentStore on ${name}`, () => {
    it('random operation sequences give the same results as InMemoryStore (get, put, delete, search with filters, listNamespaces, batch)', async () => {
      const log = open();
      try {
        await runModel(log, { runs: 100, withIndex: false, label: name });
      } finally {
        await log.close();
      }
    }, 300_000);

    it('with index: semantic search scores and ranks as InMemoryStore does', async () => {
      const log = open();
      try {
        await runModel(log, { runs: 50, withIndex: true, label: `${name}i` });
      } finally {
        await log.close();
      }
    }, 300_000);
  });
}
