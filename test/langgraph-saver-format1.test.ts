/**
 * A thread written by DgentSaver's first format (lg.checkpoint / lg.writes events, messages in a
 * value stream as lg.set / lg.append: the fixture is three turns written by the saver as of commit
 * 046634b) is read by the current saver exactly, and continues in the current format on top.
 */
import { describe, expect, it } from 'vitest';
import { DgentSaver } from '../src/langgraph.js';
import { chatGraph, REPLIES, userMessage } from './support/langgraph-graph.js';
import { expectedMessages, fixtureLog, loadFixture } from './support/langgraph-fixture.js';

const fixture = loadFixture(1);
const cfg = { configurable: { thread_id: 'old' } };

describe('DgentSaver reads its first format', () => {
  it('the three turns, their ids and history come back; a fourth turn is written in the current format on top', async () => {
    const log = await fixtureLog(fixture);
    expect(new Set(fixture.events.map((e) => e.type))).toEqual(new Set(['lg.checkpoint', 'lg.writes', 'lg.set', 'lg.append']));
    const graph = chatGraph(new DgentSaver({ log, valueCacheSize: 0 }));
    const state = await graph.getState(cfg);
    expect(state.values.messages.map((m: { content: unknown }) => m.content)).toEqual(expectedMessages(3));
    expect(state.values.messages.map((m: { id?: string }) => m.id)).toEqual(fixture.ids);
    const history = [];
    for await (const s of graph.getStateHistory(cfg)) history.push(s);
    expect(history).toHaveLength(9);
    await graph.invoke({ messages: [userMessage(4)] }, cfg);
    const types = [];
    for await (const e of log.readAll()) types.push(e.type);
    expect(types.slice(fixture.events.length)).toEqual(['lg.c', 'lg.b', 'lg.b']);
    // a fresh saver (another process) folds both formats
    const fresh = await chatGraph(new DgentSaver({ log, valueCacheSize: 0 })).getState(cfg);
    // (the graph's fake model starts its replies over: the fourth turn got reply 0)
    expect(fresh.values.messages.map((m: { content: unknown }) => m.content)).toEqual([...expectedMessages(3), userMessage(4).content, REPLIES[0]]);
    expect(fresh.values.messages.slice(0, 6).map((m: { id?: string }) => m.id)).toEqual(fixture.ids);
  });
});
