/**
 * Threads written by older DgentSaver formats, kept as fixtures (test/support/langgraph-format<n>.json:
 * the thread's events as the saver appended them and the ids of its messages), replayed into a
 * fresh memory log for the current saver to read.
 */
import { readFileSync } from 'node:fs';
import { MemoryEventLog } from '../../src/index.js';
import { REPLIES, userMessage } from './langgraph-graph.js';

export interface FixtureEvent {
  stream: string;
  id: string;
  type: string;
  data: unknown;
}

export interface Fixture {
  events: FixtureEvent[];
  ids: string[];
}

/** The fixture of DgentSaver format `format`. */
export function loadFixture(format: 1 | 2): Fixture {
  return JSON.parse(readFileSync(new URL(`./langgraph-format${format}.json`, import.meta.url), 'utf8')) as Fixture;
}

/** A memory log holding the fixture's events, with their ids, stream by stream as recorded. */
export async function fixtureLog(fixture: Fixture): Promise<MemoryEventLog> {
  const log = new MemoryEventLog();
  for (const e of fixture.events) await log.append(e.stream, [{ id: e.id, type: e.type, data: e.data }]);
  return log;
}

/** The message contents of the chat graph after `turns` turns. */
export const expectedMessages = (turns: number): string[] =>
  Array.from({ length: turns }, (_, i) => [userMessage(i + 1).content as string, REPLIES[i % REPLIES.length]!]).flat();
