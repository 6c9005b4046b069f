/**
 * A thread written in DgentSaver's second format (compact lg.c / lg.w events, a writes event and a
 * checkpoint event per step: the fixture is three turns written by the saver as of commit d28cdc2)
 * is read by the current saver exactly, and continues in format 3 (lg.b) on top.
 */
import { describe, expect, it } from 'vitest';
import { DgentSaver } from '../src/langgraph.js';
import { chatGraph, REPLIES, userMessage } from './support/langgraph-graph.js';
import { expectedMessages, fixtureLog, loadFixture } from './support/langgraph-fixture.js';

const fixture = loadFixture(2);
const cfg = { configurable: { thread_id: 'old2' } };

describe('DgentSaver reads its second format', () => {
  it('the three turns, their ids, pending writes and history come back; a fourth turn is written in format 3 on top', async () => {
    const log = await fixtureLog(fixture);
    expect(fixture.events.map((e) => e.type)).toEqual(Array.from({ length: 3 }, () => ['lg.c', 'lg.w', 'lg.c', 'lg.w', 'lg.c']).flat());
    const saver = new DgentSaver({ log, valueCacheSize: 0 });
    const graph = chatGraph(saver);
    const state = await graph.getState(cfg);
    expect(state.values.messages.map((m: { content: unknown }) => m.content)).toEqual(expectedMessages(3));
    expect(state.values.messages.map((m: { id?: string }) => m.id)).toEqual(fixture.ids);
    const history = [];
    for await (const s of graph.getStateHistory(cfg)) history.push(s);
    expect(history).toHaveLength(9);
    // every checkpoint but the newest of each turn holds the writes of its step
    const tuples = [];
    for await (const t of saver.list(cfg)) tuples.push(t);
    expect(tuples.map((t) => t.pendingWrites?.length ?? 0)).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    await graph.invoke({ messages: [userMessage(4)] }, cfg);
    const types = [];
    for await (const e of log.readAll()) types.push(e.type);
    expect(types.slice(fixture.events.length)).toEqual(['lg.c', 'lg.b', 'lg.b']);
    // a fresh saver (another process) folds both formats
    const fresh = await chatGraph(new DgentSaver({ log, valueCacheSize: 0 })).getState(cfg);
    expect(fresh.values.messages.map((m: { content: unknown }) => m.content)).toEqual([...expectedMessages(3), userMessage(4).content, REPLIES[0]]);
    expect(fresh.values.messages.slice(0, 6).map((m: { id?: string }) => m.id)).toEqual(fixture.ids);
  });
});
