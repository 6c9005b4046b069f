/**
 * openAgent('esdb://…') opens an EventStoreDB log of its own: the agent's close() must close it
 * (nobody else holds it). Against the in-process gRPC protocol double, through the official client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClosedError, openAgent } from '../src/index.js';
import { StreamAgent } from '../src/agents/stream-agent.js';
import { startEsdbDouble } from './support/esdb-double/esdb-double.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('openAgent(esdb://…)', () => {
  // Not tested here: save()/update() through this agent. StreamAgent writes $state/$patch events,
  // and EventStoreDB reserves $-types, so the adapter refuses them (InvalidKeyError) - a known gap.
  it('close() closes the log the agent opened (and its gRPC client)', async () => {
    const double = await startEsdbDouble();
    cleanups.push(() => double.stop());
    type Agent = StreamAgent<never, { n: number }>;
    const agent = (await openAgent<{ n: number }>(double.connectionString, 'chat-1', { initial: { n: 0 } })) as unknown as Agent;
    expect(agent).toBeInstanceOf(StreamAgent);
    expect(await agent.load()).toEqual({ n: 0 });
    const log = agent.log;
    await log.append('chat-1', [{ type: 'Noted', data: { n: 1 } }]);
    expect(await log.revision('chat-1')).toBe(1);
    await agent.close();
    // the log went with the agent
    await expect(log.revision('chat-1')).rejects.toBeInstanceOf(ClosedError);
    await agent.close(); // twice is fine
    // the data stayed in the server: another agent's log reads it
    const again = (await openAgent<{ n: number }>(double.connectionString, 'chat-1')) as unknown as Agent;
    expect(await again.log.revision('chat-1')).toBe(1);
    await again.close();
  }, 60_000);
});
