/**
 * LangGraph's own checkpointer conformance suite (@langchain/langgraph-checkpoint-validation: put,
 * putWrites, getTuple, list, deleteThread, and the opt-in getDeltaChannelHistory tests) against
 * DgentSaver on SQLite and PostgreSQL. The suite is written for Jest-style globals; it is given
 * vitest's before it is imported.
 */
import * as vitest from 'vitest';
import type { CheckpointSaverTestInitializer } from '@langchain/langgraph-checkpoint-validation';
import type { DgentSaver } from '../src/langgraph.js';
import { openBackend, type BackendName, type LangGraphBackend } from './support/langgraph-backends.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

const { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } = vitest;
Object.assign(globalThis, { describe, it, test: vitest.test, expect, beforeAll, afterAll, beforeEach, afterEach });
const { specTest, deltaChannelHistoryTests } = await import('@langchain/langgraph-checkpoint-validation');

const hasPostgres = await requireService('PostgreSQL', postgresUrl());

function initializer(name: BackendName): CheckpointSaverTestInitializer<DgentSaver> {
  let backend: LangGraphBackend | undefined;
  return {
    checkpointerName: `DgentSaver (${name})`,
    beforeAllTimeout: 60_000,
    async beforeAll() {
      backend = await openBackend(name);
    },
    async afterAll() {
      await backend?.close();
    },
    createCheckpointer: () => backend!.saver(),
  };
}

for (const name of ['sqlite', 'postgres'] as const) {
  describe.skipIf(name === 'postgres' && !hasPostgres)(`LangGraph validation suite: ${name}`, () => {
    const init = initializer(name);
    specTest(init);
    describe('delta channels', () => {
      beforeAll(() => init.beforeAll!());
      afterAll(() => init.afterAll!());
      deltaChannelHistoryTests(init);
    });
  });
}
