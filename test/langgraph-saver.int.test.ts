/**
 * DgentSaver on every backend (memory, SQLite, PostgreSQL, Redis) with a real LangGraph graph:
 * storage of appended messages only, fencing of a second writer, fork/copy without payload copies,
 * prune, TTL, deleteThread, and configuration errors.
 */
import { Command } from '@langchain/langgraph';
import type { Checkpoint } from '@langchain/langgraph-checkpoint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError, ValidationError, type RecordedEvent } from '../src/index.js';
import { DgentSaver } from '../src/langgraph.js';
import { openBackend, type BackendName, type LangGraphBackend } from './support/langgraph-backends.js';
import { chatGraph, REPLIES, reviewGraph, userMessage } from './support/langgraph-graph.js';
import { postgresUrl } from './support/postgres.js';
import { REDIS_URL, requireService } from './support/services.js';

const available: Record<BackendName, boolean> = {
  memory: true,
  sqlite: true,
  postgres: await requireService('PostgreSQL', postgresUrl()),
  redis: await requireService('Redis', REDIS_URL),
};

async function events(b: LangGraphBackend, prefix: string): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const e of b.log.readAll()) if (e.stream.startsWith(prefix)) out.push(e as RecordedEvent);
  return out;
}

const cfg = (thread_id: string) => ({ configurable: { thread_id } });

for (const name of ['memory', 'sqlite', 'postgres', 'redis'] as const) {
  describe.skipIf(!available[name])(`DgentSaver on ${name}`, () => {
    let b: LangGraphBackend;
    let n = 0;
    const prefix = () => `p${(n += 1)}-${Date.now().toString(36)}:`;
    beforeAll(async () => {
      b = await openBackend(name);
    });
    afterAll(async () => {
      await b?.close();
    });

    it('a 20-turn conversation stores each message once, in the thread stream: no value event', async () => {
      const p = prefix();
      const saver = b.saver({ prefix: p });
      const graph = chatGraph(saver);
      for (let t = 1; t <= 20; t += 1) await graph.invoke({ messages: [userMessage(t)] }, cfg('t'));
      const state = await graph.getState(cfg('t'));
      expect(state.values.messages.map((m: { content: unknown }) => m.content)).toEqual(
        Array.from({ length: 20 }, (_, i) => [userMessage(i + 1).content, REPLIES[i % REPLIES.length]]).flat(),
      );
      // each message once, in the thread stream; the messages channel is references (no value event)
      const all = await events(b, p);
      expect(all.filter((e) => e.stream.endsWith('messages'))).toHaveLength(0);
      // three events a turn: the input checkpoint, then each step's writes with the checkpoint after them (lg.b)
      expect(all.map((e) => e.type)).toEqual(Array.from({ length: 20 }, () => ['lg.c', 'lg.b', 'lg.b']).flat());
      const text = all.map((e) => JSON.stringify(e.data)).join('\n');
      for (let t = 1; t <= 20; t += 1) expect(text.split(`Turn ${t}: what`).length - 1, `user message ${t}`).toBe(1);
      // a fresh instance (another process) reads every checkpoint, its values and its pending writes
      // from the log alone exactly as the writer holds them
      const fresh = b.saver({ prefix: p, valueCacheSize: 0 });
      const mine = [];
      for await (const t of saver.list(cfg('t'))) mine.push(t);
      const theirs = [];
      for await (const t of fresh.list(cfg('t'))) theirs.push(t);
      expect(theirs).toHaveLength(60);
      expect(theirs).toEqual(mine);
      expect(theirs.flatMap((t) => t.pendingWrites ?? []).length).toBeGreaterThan(39);
      // the __start__ task's write of each input checkpoint is the user's message (stored as a
      // reference into the checkpoint's input value)
      const inputs = theirs.filter((t) => t.metadata?.source === 'input').reverse();
      expect(inputs).toHaveLength(20);
      inputs.forEach((t, i) => {
        const w = t.pendingWrites?.find((x) => x[1] === 'messages');
        expect((w?.[2] as { content: unknown }[] | undefined)?.map((m) => m.content)).toEqual([userMessage(i + 1).content]);
      });
    });

    it('a second writer that read before the first wrote gets ConcurrencyError from put, and the chain does not fork', async () => {
      const p = prefix();
      const a = b.saver({ prefix: p });
      const other = b.saver({ prefix: p });
      await chatGraph(a).invoke({ messages: [userMessage(1)] }, cfg('t'));
      const head = (await other.getTuple(cfg('t')))!;
      await chatGraph(a).invoke({ messages: [userMessage(2)] }, cfg('t'));
      const child: Checkpoint = { ...head.checkpoint, id: '1f1f0000-0000-6000-8000-000000000001', channel_values: {} };
      const err = await other.put(head.config, child, { source: 'loop', step: 99, parents: {} }, {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(await other.getTuple({ configurable: { thread_id: 't', checkpoint_id: child.id } })).toBeUndefined();
      // reading again lets it continue on top of the first writer's checkpoints
      await chatGraph(other).invoke({ messages: [userMessage(3)] }, cfg('t'));
      const parents = new Map<string, string>();
      for await (const t of a.list(cfg('t'))) {
        const parent = t.parentConfig?.configurable?.checkpoint_id as string | undefined;
        if (parent === undefined) continue;
        expect(parents.has(parent), `two children of ${parent}`).toBe(false);
        parents.set(parent, t.checkpoint.id);
      }
      expect((await chatGraph(a).getState(cfg('t'))).values.messages).toHaveLength(6);
    });

    it('fork from an old checkpoint appends one link event and no value; the fork continues storing its new messages only', async () => {
      const p = prefix();
      const saver = b.saver({ prefix: p });
      const graph = chatGraph(saver);
      for (let t = 1; t <= 4; t += 1) await graph.invoke({ messages: [userMessage(t)] }, cfg('src'));
      const history = [];
      for await (const s of graph.getStateHistory(cfg('src'))) history.push(s);
      const old = history.find((s) => s.values.messages?.length === 4 && s.next.length === 0)!;
      const before = await events(b, p);
      const forked = await saver.fork(old.config, 'dst');
      const after = await events(b, p);
      expect(after.slice(before.length).map((e) => e.type)).toEqual(['lg.link']);
      expect((await graph.getState(cfg('dst'))).values.messages.map((m: { content: unknown }) => m.content)).toEqual(old.values.messages.map((m: { content: unknown }) => m.content));
      expect(forked?.configurable?.checkpoint_id).toBe(old.config.configurable?.checkpoint_id);
      await graph.invoke({ messages: [userMessage(9)] }, cfg('dst'));
      const added = (await events(b, p)).slice(after.length);
      expect(added.filter((e) => e.stream.endsWith('messages'))).toHaveLength(0);
      // the fork's new checkpoints reference the source's values: no earlier message is stored again
      const text = added.map((e) => JSON.stringify(e.data)).join('\n');
      for (let t = 1; t <= 4; t += 1) expect(text).not.toContain(`Turn ${t}: what`);
      expect(text).toContain('Turn 9: what');
      expect((await graph.getState(cfg('dst'))).values.messages).toHaveLength(6);
      expect((await graph.getState(cfg('src'))).values.messages).toHaveLength(8);
      await expect(saver.copyThread('src', 'dst')).rejects.toBeInstanceOf(ValidationError);
    });

    it('prune keeps the newest checkpoints, hides the rest, and another instance sees the same', async () => {
      const p = prefix();
      const saver = b.saver({ prefix: p });
      const graph = chatGraph(saver);
      for (let t = 1; t <= 5; t += 1) await graph.invoke({ messages: [userMessage(t)] }, cfg('t'));
      const all = [];
      for await (const t of saver.list(cfg('t'))) all.push(t.checkpoint.id);
      const latest = await saver.getTuple(cfg('t'));
      expect(await saver.prune('t', { keepLatest: 2 })).toBe(all.length - 2);
      const kept = [];
      for await (const t of b.saver({ prefix: p }).list(cfg('t'))) kept.push(t.checkpoint.id);
      expect(kept).toEqual(all.slice(0, 2));
      expect((await b.saver({ prefix: p }).getTuple(cfg('t')))?.checkpoint).toEqual(latest?.checkpoint);
      await graph.invoke({ messages: [userMessage(6)] }, cfg('t'));
      expect((await graph.getState(cfg('t'))).values.messages).toHaveLength(12);
      await expect(saver.prune('t', { keepLatest: 0 })).rejects.toBeInstanceOf(ValidationError);
    });

    it('a thread expires after its TTL, except while it waits on an interrupt', async () => {
      let now = Date.now();
      const p = prefix();
      const saver = b.saver({ prefix: p, ttlMs: 60_000, now: () => now });
      await chatGraph(saver).invoke({ messages: [userMessage(1)] }, cfg('plain'));
      await reviewGraph(saver).invoke({ messages: [userMessage(1)] }, cfg('waiting'));
      await saver.setThreadTtl('kept', null);
      await chatGraph(saver).invoke({ messages: [userMessage(1)] }, cfg('kept'));
      now += 59_000;
      expect(await saver.isExpired('plain')).toBe(false);
      now += 2_000;
      expect(await saver.isExpired('plain')).toBe(true);
      expect(await saver.getTuple(cfg('plain'))).toBeUndefined();
      expect(await saver.isExpired('kept')).toBe(false);
      expect(await saver.isExpired('waiting')).toBe(false);
      const graph = reviewGraph(saver);
      await graph.invoke(new Command({ resume: 'approved' }), cfg('waiting'));
      expect((await graph.getState(cfg('waiting'))).values.messages.at(-1).content).toBe('review: approved');
      now += 61_000;
      expect(await saver.isExpired('waiting')).toBe(true);
    });

    it('deleteThread hides the thread; the id can start over', async () => {
      const p = prefix();
      const saver = b.saver({ prefix: p });
      const graph = chatGraph(saver);
      await graph.invoke({ messages: [userMessage(1)] }, cfg('t'));
      await saver.deleteThread('t');
      expect(await saver.getTuple(cfg('t'))).toBeUndefined();
      expect(await b.saver({ prefix: p }).getTuple(cfg('t'))).toBeUndefined();
      const fresh = chatGraph(saver); // its fake model starts from the first reply again
      await fresh.invoke({ messages: [userMessage(2)] }, cfg('t'));
      expect((await fresh.getState(cfg('t'))).values.messages.map((m: { content: unknown }) => m.content)).toEqual([userMessage(2).content, REPLIES[0]]);
    });
  });
}

describe('DgentSaver configuration', () => {
  it('bad options are ValidationError', () => {
    expect(() => new DgentSaver({} as never)).toThrow(ValidationError);
    expect(() => new DgentSaver({ path: 'a.db', connectionString: 'postgres://x' } as never)).toThrow(ValidationError);
    expect(() => new DgentSaver({ path: '' })).toThrow(ValidationError);
    expect(() => new DgentSaver({ path: 'x.db', snapshotEvery: 0 })).toThrow(ValidationError);
    expect(() => new DgentSaver({ path: 'x.db', ttlMs: -1 })).toThrow(ValidationError);
  });

  it('put without a thread_id is ValidationError', async () => {
    const { MemoryEventLog } = await import('../src/index.js');
    const saver = new DgentSaver({ log: new MemoryEventLog() });
    const cp: Checkpoint = { v: 4, id: '1f1f0000-0000-6000-8000-000000000002', ts: new Date().toISOString(), channel_values: {}, channel_versions: {}, versions_seen: {} };
    await expect(saver.put({ configurable: {} }, cp, { source: 'input', step: -1, parents: {} }, {})).rejects.toBeInstanceOf(ValidationError);
  });
});
