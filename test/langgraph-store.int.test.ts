/**
 * DgentStore on PostgreSQL (the model test against LangGraph's InMemoryStore, and the
 * `{ connectionString }` form) and in real graphs: a StateGraph compiled with `store: new
 * DgentStore(...)` whose node reads and writes long-term memories through `config.store`, on
 * memory, SQLite and PostgreSQL; a second store instance (another process's view) sees them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Annotation, END, START, StateGraph, type LangGraphRunnableConfig } from '@langchain/langgraph';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryEventLog, SqliteEventLog, type EventLog } from '../src/index.js';
import { DgentStore, type DgentStoreOptions } from '../src/langgraph.js';
import { PostgresEventLog } from '../src/postgres.js';
import { fakeEmbeddings, runModel } from './langgraph-store-model.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const pgUp = await requireService('PostgreSQL', postgresUrl());
const schemas: string[] = [];
const dir = mkdtempSync(join(tmpdir(), 'dgent-lgstore-int-'));
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (pgUp) await dropSchemas(schemas);
});

function pgLog(): PostgresEventLog {
  const schema = uniqueSchema('lgs');
  schemas.push(schema);
  return new PostgresEventLog({ connectionString: postgresUrl(), schema });
}

describe.skipIf(!pgUp)('DgentStore on PostgreSQL', () => {
  it('random operation sequences give the same results as InMemoryStore (filters run as SQL on the jsonb view)', async () => {
    const log = pgLog();
    try {
      await runModel(log, { runs: 100, withIndex: false, label: 'pg' });
    } finally {
      await log.close();
    }
  }, 600_000);

  it('with index: semantic search agrees with InMemoryStore', async () => {
    const log = pgLog();
    try {
      await runModel(log, { runs: 30, withIndex: true, label: 'pgi' });
    } finally {
      await log.close();
    }
  }, 600_000);

  it('{ connectionString, schema } opens its own log and stop() closes it; a second instance reads the same items', async () => {
    const schema = uniqueSchema('lgs');
    schemas.push(schema);
    const a = new DgentStore({ connectionString: postgresUrl(), schema });
    await a.put(['users', 'u1'], 'prefs', { theme: 'dark' });
    const b = new DgentStore({ connectionString: postgresUrl(), schema });
    expect((await b.get(['users', 'u1'], 'prefs'))?.value).toEqual({ theme: 'dark' });
    await a.stop();
    await b.stop();
    await expect(a.get(['users', 'u1'], 'prefs')).rejects.toThrow(/closed/i);
  });
});

const State = Annotation.Root({
  input: Annotation<string>,
  recalled: Annotation<string[]>({ reducer: (_a, b) => b, default: () => [] }),
});

/** START -> remember -> END: the node recalls the user's memories closest to the input, then stores the input as a new one. */
function memoryGraph(store: DgentStore) {
  const remember = async (state: typeof State.State, config: LangGraphRunnableConfig) => {
    const userId = config.configurable?.['user_id'] as string;
    const ns = ['users', userId, 'memories'];
    const found = await config.store!.search(ns, { query: state.input, limit: 3 });
    const count = (await config.store!.search(ns, { limit: 100 })).length;
    await config.store!.put(ns, `m${count + 1}`, { text: state.input, turn: count + 1 });
    return { recalled: found.map((i) => i.value['text'] as string) };
  };
  return new StateGraph(State).addNode('remember', remember).addEdge(START, 'remember').addEdge('remember', END).compile({ store });
}

const backends: Record<string, { up: boolean; open: () => Promise<{ options: DgentStoreOptions; close: () => Promise<void> }> }> = {
  memory: {
    up: true,
    open: async () => {
      const log: EventLog = new MemoryEventLog();
      return { options: { log }, close: () => log.close() };
    },
  },
  sqlite: { up: true, open: async () => ({ options: { path: join(dir, `graph-${Math.random().toString(36).slice(2)}.db`) }, close: async () => undefined }) },
  postgres: {
    up: pgUp,
    open: async () => {
      const log = pgLog();
      return { options: { log }, close: () => log.close() };
    },
  },
};

for (const [name, backend] of Object.entries(backends)) {
  describe.skipIf(!backend.up)(`a StateGraph with store: DgentStore on ${name}`, () => {
    it('a node reads and writes memories per user through config.store; versions and another instance see them', async () => {
      const { options, close } = await backend.open();
      const store = new DgentStore({ ...options, index: { dims: 8, embed: fakeEmbeddings, fields: ['text'] } });
      try {
        const graph = memoryGraph(store);
        const inputs = ['I like apple pie', 'my cat is called Rice', 'I live near the cherry orchard'];
        for (const input of inputs) await graph.invoke({ input }, { configurable: { user_id: 'u1' } });
        await graph.invoke({ input: 'something else entirely' }, { configurable: { user_id: 'u2' } });
        const last = await graph.invoke({ input: 'I live near the cherry orchard' }, { configurable: { user_id: 'u1' } });
        expect(last.recalled).toHaveLength(3);
        expect(last.recalled[0]).toBe('I live near the cherry orchard'); // the closest memory first, not the first key
        expect(new Set(last.recalled)).toEqual(new Set(inputs));
        expect(await store.listNamespaces({ prefix: ['users'], maxDepth: 2 })).toEqual([['users', 'u1'], ['users', 'u2']]);
        const mems = await store.search(['users', 'u1', 'memories'], { limit: 100 });
        expect(mems.map((m) => [m.key, m.value['turn']])).toEqual([['m1', 1], ['m2', 2], ['m3', 3], ['m4', 4]]);
        expect((await store.versions(['users', 'u1', 'memories'], 'm1')).map((v) => v.version)).toEqual([1]);
        if (name !== 'memory') {
          // another instance on the same data (what another process sees), vectors included
          const other = new DgentStore({ ...options, index: { dims: 8, embed: fakeEmbeddings, fields: ['text'] } });
          try {
            const hits = await other.search(['users', 'u1'], { query: 'my cat is called Rice', limit: 1 });
            expect(hits.map((h) => [h.key, Math.round(h.score! * 1e4) / 1e4])).toEqual([['m2', 1]]);
          } finally {
            await other.stop();
          }
        }
      } finally {
        await store.stop();
        await close();
      }
    }, 120_000);
  });
}
