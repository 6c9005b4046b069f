/**
 * A child process for the two-process fencing test: opens the log named by argv (sqlite path or
 * PostgreSQL url+schema), a DgentSaver with the given prefix, and runs one turn of the chat graph
 * on the thread. After the graph's first read of the thread it writes `<barrier>/<me>` and waits
 * for `<barrier>/<other>`, so both processes have read the same head before either writes.
 * Prints one JSON line: { ok: true } or { ok: false, name, code }.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunnableConfig } from '@langchain/core/runnables';
import { SqliteEventLog, type EventLog } from '../../src/index.js';
import { DgentSaver } from '../../src/langgraph.js';
import { chatGraph, userMessage } from './langgraph-graph.js';

const [spec, prefix, thread, barrier, me, other] = process.argv.slice(2) as [string, string, string, string, string, string];
const s = JSON.parse(spec) as Record<string, string>;
let log: EventLog;
if (s.kind === 'sqlite') log = new SqliteEventLog({ path: s.path! });
else {
  const { PostgresEventLog } = await import('../../src/postgres.js');
  log = new PostgresEventLog({ connectionString: s.url!, schema: s.schema });
}

class BarrierSaver extends DgentSaver {
  private waited = false;
  override async getTuple(config: RunnableConfig) {
    const t = await super.getTuple(config);
    if (!this.waited) {
      this.waited = true;
      writeFileSync(join(barrier, me), '');
      const deadline = Date.now() + 60_000;
      while (!existsSync(join(barrier, other))) {
        if (Date.now() > deadline) throw new Error('the other process never read the thread');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    return t;
  }
}

const saver = new BarrierSaver({ log, prefix });
try {
  await chatGraph(saver).invoke({ messages: [userMessage(Number(me.slice(1)))] }, { configurable: { thread_id: thread } });
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const err = e as { name?: string; code?: string; message?: string };
  console.log(JSON.stringify({ ok: false, name: err.name, code: err.code, message: err.message }));
} finally {
  await log.close();
}
