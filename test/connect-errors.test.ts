/**
 * A backend URL pointing at something that is not that server: BackendUnavailableError whose message
 * names host:port and says what happened ("127.0.0.1:6379 did not answer as PostgreSQL"), not the
 * driver's internals ("Connection terminated due to connection timeout", ioredis's "Reached the max
 * retries per request limit ... maxRetriesPerRequest", "Unknown RESP type ... Please report this").
 * The other end is a TCP listener of the test's own: one that accepts and says nothing, one that
 * answers garbage (an HTTP error), one that closes at once, and a port nobody listens on.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, SQLAgent } from '../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../src/postgres.js';
import { RedisAgent, RedisEventLog } from '../src/redis.js';

type Mode = 'silent' | 'garbage' | 'closes';
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];
const ports: Record<Mode | 'refused', number> = { silent: 0, garbage: 0, closes: 0, refused: 0 };

async function listen(onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  const make: Record<Mode, (s: net.Socket) => void> = {
    silent: () => undefined,
    garbage: (s) => void s.write('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n'),
    closes: (s) => void s.destroy(),
  };
  for (const mode of Object.keys(make) as Mode[]) {
    const server = await listen(make[mode]);
    servers.push(server);
    ports[mode] = (server.address() as net.AddressInfo).port;
  }
  // a port that was free a moment ago: nothing listens there
  const gone = await listen(() => undefined);
  ports.refused = (gone.address() as net.AddressInfo).port;
  await new Promise((resolve) => gone.close(resolve));
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function failure(fn: () => Promise<unknown>, close: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e as Error;
  } finally {
    await close().catch(() => undefined);
  }
  throw new Error('expected a failure');
}

const INTERNALS = /Connection terminated|maxRetriesPerRequest|max retries per request|Please report this|Unknown RESP/;

describe('a PostgreSQL URL at a port that is not PostgreSQL', () => {
  const pgUrl = (port: number) => `postgres://postgres@127.0.0.1:${port}/test`;

  it.each(['silent', 'garbage', 'closes'] as const)('PostgresEventLog, a listener that %s: BackendUnavailableError "127.0.0.1:<port> did not answer as PostgreSQL"', async (mode) => {
    const log = new PostgresEventLog({ connectionString: pgUrl(ports[mode]), schema: 'dgent_connect_errors', connectTimeoutMs: 1000 });
    const e = await failure(() => log.revision('s'), () => log.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`127.0.0.1:${ports[mode]} did not answer as PostgreSQL`);
    expect(e.message).not.toMatch(INTERNALS);
  }, 30_000);

  it('PostgresEventLog, nothing listening: "nothing accepts connections at 127.0.0.1:<port>"', async () => {
    const log = new PostgresEventLog({ connectionString: pgUrl(ports.refused), schema: 'dgent_connect_errors', connectTimeoutMs: 1000 });
    const e = await failure(() => log.revision('s'), () => log.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`nothing accepts connections at 127.0.0.1:${ports.refused}`);
  }, 30_000);

  it('SQLAgent on PostgreSQL, a silent listener: names host:port', async () => {
    const agent = new SQLAgent<{ n: number }>({ connectionString: pgUrl(ports.silent), id: 'a', initial: { n: 0 }, connectTimeoutMs: 1000 });
    const e = await failure(() => agent.load(), () => agent.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`127.0.0.1:${ports.silent} did not answer as PostgreSQL`);
    expect(e.message).not.toMatch(INTERNALS);
  }, 30_000);

  it('PostgresViewStorage, a listener that closes: names host:port', async () => {
    const views = new PostgresViewStorage({ connectionString: pgUrl(ports.closes), schema: 'dgent_connect_errors' });
    const e = await failure(() => views.init(), () => views.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`127.0.0.1:${ports.closes} did not answer as PostgreSQL`);
    expect(e.message).not.toMatch(INTERNALS);
  }, 30_000);
});

describe('a Redis URL at a port that is not Redis', () => {
  const redisOptions = { commandTimeout: 1000 };

  it.each(['silent', 'garbage', 'closes'] as const)('RedisEventLog, a listener that %s: BackendUnavailableError "127.0.0.1:<port> did not answer as Redis", no ioredis internals', async (mode) => {
    const log = new RedisEventLog({ url: `redis://127.0.0.1:${ports[mode]}`, redisOptions });
    const e = await failure(() => log.revision('s'), () => log.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`127.0.0.1:${ports[mode]} did not answer as Redis`);
    expect(e.message).not.toMatch(INTERNALS);
  }, 30_000);

  it.each(['silent', 'garbage', 'closes'] as const)('RedisAgent, a listener that %s: names host:port', async (mode) => {
    const agent = new RedisAgent<{ n: number }>({ url: `redis://127.0.0.1:${ports[mode]}`, key: 'k', initial: { n: 0 }, redisOptions });
    const e = await failure(() => agent.load(), () => agent.close());
    expect(e).toBeInstanceOf(BackendUnavailableError);
    expect(e.message).toContain(`127.0.0.1:${ports[mode]} did not answer as Redis`);
    expect(e.message).not.toMatch(INTERNALS);
  }, 30_000);
});
