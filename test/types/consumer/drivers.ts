/**
 * A consumer of the driver entries who installed the drivers (pg without @types/pg, ioredis with
 * its own types, @eventstore/db-client), checked with strict + exactOptionalPropertyTypes against
 * the built declarations.
 */
import { PostgresEventLog } from 'dgent/postgres';
import { RedisAgent, RedisEventLog } from 'dgent/redis';
import { EventStoreDBEventLog } from 'dgent/eventstoredb';
import type { EventLog } from 'dgent';

interface Memory {
  turns: string[];
}

type ChatEvent = { type: 'said'; data: { text: string } };

export async function driverOptionsAcceptUndefined(env: Record<string, string | undefined>): Promise<void> {
  // `url: process.env.REDIS_URL` is what the new user wrote
  const agent = new RedisAgent<Memory>({ url: env['REDIS_URL'], key: 'agent-1', ttlMs: undefined, prefix: env['PREFIX'] });
  const s = await agent.load();
  // @ts-expect-error RedisAgent.load() is read-only
  s.turns.push('x');
  await agent.save({ turns: [...s.turns, 'x'] });
  await agent.close();

  const logs: EventLog<ChatEvent>[] = [
    new PostgresEventLog<ChatEvent>({ connectionString: env['DATABASE_URL'], schema: env['SCHEMA'] }),
    new RedisEventLog<ChatEvent>({ url: env['REDIS_URL'], prefix: undefined }),
    new EventStoreDBEventLog<ChatEvent>({ connectionString: env['ESDB_URL'] ?? 'esdb://127.0.0.1:2113?tls=false', prefix: env['PREFIX'] }),
  ];
  const esdb: EventStoreDBEventLog<ChatEvent> = new EventStoreDBEventLog<ChatEvent>({ connectionString: 'esdb://127.0.0.1:2113?tls=false' });
  logs.push(esdb);
  for (const log of logs) {
    await log.append('chat-1', [{ type: 'said', data: { text: 'hi' } }], { expectedRevision: undefined });
    await log.close();
  }
}
