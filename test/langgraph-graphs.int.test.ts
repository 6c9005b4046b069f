/**
 * Real LangGraph graphs on DgentSaver, SQLite and PostgreSQL: many turns, an interrupt resumed by
 * another saver instance, getStateHistory, a replay and a fork (updateState) from an old
 * checkpoint, and two processes on one thread (fenced: one wins, the other gets
 * ConcurrencyError, the chain never forks).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AIMessage } from '@langchain/core/messages';
import { Command, type StateSnapshot } from '@langchain/langgraph';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackend, type LangGraphBackend } from './support/langgraph-backends.js';
import { chatGraph, REPLIES, reviewGraph, userMessage } from './support/langgraph-graph.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

const hasPostgres = await requireService('PostgreSQL', postgresUrl());
const CHILD = fileURLToPath(new URL('./support/langgraph-child.ts', import.meta.url));
const cfg = (thread_id: string) => ({ configurable: { thread_id } });
const contents = (s: StateSnapshot) => (s.values.messages as { content: unknown }[]).map((m) => m.content);

function runChild(args: string[]): Promise<{ ok: boolean; name?: string; code?: string; message?: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      if (!line.startsWith('{')) reject(new Error(`child exited ${code} without a result:\n${out}\n${err}`));
      else resolve(JSON.parse(line));
    });
  });
}

for (const name of ['sqlite', 'postgres'] as const) {
  describe.skipIf(name === 'postgres' && !hasPostgres)(`LangGraph graphs on DgentSaver (${name})`, () => {
    let b: LangGraphBackend;
    let n = 0;
    const prefix = () => `g${(n += 1)}-${Date.now().toString(36)}:`;
    beforeAll(async () => {
      b = await openBackend(name);
    });
    afterAll(async () => {
      await b?.close();
    });

    it('60 turns: every message in order and stored once, no value event, the same state from a fresh saver', async () => {
      const p = prefix();
      const graph = chatGraph(b.saver({ prefix: p }));
      for (let t = 1; t <= 60; t += 1) await graph.invoke({ messages: [userMessage(t)] }, cfg('long'));
      const expected = Array.from({ length: 60 }, (_, i) => [userMessage(i + 1).content, REPLIES[i % REPLIES.length]]).flat();
      expect(contents(await graph.getState(cfg('long')))).toEqual(expected);
      const fresh = await chatGraph(b.saver({ prefix: p })).getState(cfg('long'));
      expect(contents(fresh)).toEqual(expected);
      // the ids the messages reducer gave (stored as keys added to the pending writes) come back too
      const ids = (st: StateSnapshot) => (st.values.messages as { id?: string }[]).map((m) => m.id);
      expect(ids(fresh)).toEqual(ids(await graph.getState(cfg('long'))));
      expect(ids(fresh).every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
      // each message is stored once, in the thread stream (the user's in its input checkpoint, the
      // model's in its pending write); the messages channel holds references, no value event
      const texts: string[] = [];
      let valueEvents = 0;
      for await (const e of b.log.readAll()) {
        if (!e.stream.startsWith(p)) continue;
        texts.push(JSON.stringify(e.data));
        if (e.stream.endsWith('messages')) valueEvents += 1;
      }
      const all = texts.join('\n');
      const count = (s: string) => all.split(s).length - 1;
      for (let t = 1; t <= 60; t += 1) expect(count(`Turn ${t}: what`), `user message ${t}`).toBe(1);
      REPLIES.forEach((_, k) => expect(count(`Reply ${k}: here`), `reply ${k}`).toBe(Array.from({ length: 60 }, (_, i) => i % REPLIES.length).filter((x) => x === k).length));
      expect(valueEvents).toBe(0);
    });

    it('an interrupt, then a resume by another saver instance on the same log', async () => {
      const p = prefix();
      const first = reviewGraph(b.saver({ prefix: p }));
      const out = await first.invoke({ messages: [userMessage(1)] }, cfg('review'));
      expect((out as { __interrupt__?: { value: unknown }[] }).__interrupt__?.[0]?.value).toMatchObject({ question: 'approve?', draft: REPLIES[0] });
      const waiting = await first.getState(cfg('review'));
      expect(waiting.next).toEqual(['review']);
      expect(waiting.tasks[0]?.interrupts[0]?.value).toMatchObject({ question: 'approve?' });
      const second = reviewGraph(b.saver({ prefix: p }));
      await second.invoke(new Command({ resume: 'approved' }), cfg('review'));
      const done = await second.getState(cfg('review'));
      expect(done.next).toEqual([]);
      expect(contents(done)).toEqual([userMessage(1).content, REPLIES[0], 'review: approved']);
    });

    it('getStateHistory newest first; replay from an old checkpoint and a fork by updateState keep the main line', async () => {
      const saver = b.saver({ prefix: prefix() });
      const graph = chatGraph(saver);
      for (let t = 1; t <= 3; t += 1) await graph.invoke({ messages: [userMessage(t)] }, cfg('h'));
      const history: StateSnapshot[] = [];
      for await (const s of graph.getStateHistory(cfg('h'))) history.push(s);
      expect(history).toHaveLength(9); // input, after __start__, after agent: per turn
      expect(history.map((s) => (s.values.messages ?? []).length)).toEqual([6, 5, 4, 4, 3, 2, 2, 1, 0]);
      const steps = history.map((s) => s.metadata?.step as number);
      expect([...steps].sort((x, y) => y - x)).toEqual(steps);
      // replay: from the checkpoint after turn 1's user message, the agent runs again
      const beforeAgent = history.find((s) => s.values.messages?.length === 3 && s.next[0] === 'agent')!;
      await graph.invoke(null, beforeAgent.config);
      const replayed = await graph.getState(cfg('h'));
      expect(contents(replayed).slice(0, 3)).toEqual(contents(beforeAgent));
      expect(replayed.values.messages).toHaveLength(4);
      // the replay branches off that checkpoint (directly or through LangGraph's fork checkpoint)
      const ancestors: string[] = [];
      for (let c = replayed.parentConfig; c && ancestors.length < 3; c = (await saver.getTuple(c))?.parentConfig) ancestors.push(c.configurable?.checkpoint_id as string);
      expect(ancestors).toContain(beforeAgent.config.configurable?.checkpoint_id);
      // fork: rewrite turn 1's answer, then continue from there
      const afterTurn1 = history.find((s) => s.values.messages?.length === 2 && s.next.length === 0)!;
      const forkConfig = await graph.updateState(afterTurn1.config, { messages: [new AIMessage('an added note')] });
      await graph.invoke({ messages: [userMessage(7)] }, forkConfig);
      const forked = await graph.getState(cfg('h'));
      expect(contents(forked).slice(0, 3)).toEqual([userMessage(1).content, REPLIES[0], 'an added note']);
      expect(forked.values.messages).toHaveLength(5);
      // the main line is intact and readable
      expect(contents(await graph.getState(history[0]!.config))).toEqual(contents(history[0]!));
    });

    it('two processes on one thread: both read the same head, one writes, the other gets ConcurrencyError; no fork', async () => {
      const p = prefix();
      const seed = chatGraph(b.saver({ prefix: p }));
      await seed.invoke({ messages: [userMessage(1)] }, cfg('shared'));
      const barrier = mkdtempSync(join(tmpdir(), 'dgent-lg-barrier-'));
      try {
        const spec = JSON.stringify(b.spec);
        const results = await Promise.all([runChild([spec, p, 'shared', barrier, 'p2', 'p3']), runChild([spec, p, 'shared', barrier, 'p3', 'p2'])]);
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        const loser = results.find((r) => !r.ok)!;
        expect(loser).toMatchObject({ name: 'ConcurrencyError', code: 'CONCURRENCY' });
      } finally {
        rmSync(barrier, { recursive: true, force: true });
      }
      const saver = b.saver({ prefix: p });
      const children = new Map<string, number>();
      for await (const t of saver.list(cfg('shared'))) {
        const parent = t.parentConfig?.configurable?.checkpoint_id as string | undefined;
        if (parent) children.set(parent, (children.get(parent) ?? 0) + 1);
      }
      expect([...children.values()].every((c) => c === 1)).toBe(true);
      expect((await chatGraph(saver).getState(cfg('shared'))).values.messages).toHaveLength(4);
    });
  });
}
