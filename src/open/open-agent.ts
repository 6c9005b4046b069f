/**
 * `openAgent(url, key)`: a DataAgent for one key on the backend a URL names.
 *
 * | URL | agent |
 * | --- | --- |
 * | `memory:` | VolatileAgent |
 * | `file:./dir` | PersistentAgent at `dir/<key>.json` (the key percent-encoded into one file name) |
 * | `sqlite:./data.db` | SQLAgent (`id` = key) |
 * | `postgres://…` | SQLAgent (`id` = key) |
 * | `redis://…` | RedisAgent (`key`; `?prefix=` sets its prefix) |
 * | `esdb://…` | StreamAgent on the stream `key` ($state/$patch events) |
 */
import { join } from 'node:path';
import { InvalidKeyError } from '../core/errors.js';
import type { DataAgent } from '../agents/data-agent.js';
import { VolatileAgent } from '../agents/volatile-agent.js';
import { PersistentAgent } from '../agents/persistent-agent.js';
import { SQLAgent } from '../agents/sql-agent.js';
import { StreamAgent } from '../agents/stream-agent.js';
import { resolveTarget } from './env.js';
import { openLogTarget } from './open-log.js';

/** Options of {@link openAgent}. */
export interface OpenAgentOptions<S> {
  /** the state `load()` returns before the first save (default: StateNotFoundError) */
  initial?: S | undefined;
  /** read `DGENT_*` from here instead of `process.env` when the URL is undefined */
  env?: Record<string, string | undefined> | undefined;
}

function fileName(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) throw new InvalidKeyError(key, 'an agent key must be a string of 1 to 200 characters');
  // one path segment whatever the key holds: no separators, no '.'/'..' of its own
  return `${encodeURIComponent(key).replace(/\./g, '%2E')}.json`;
}

/**
 * Open the agent `key` on the backend `url` names (undefined: `DGENT_AGENT_URL` or `DGENT_URL`).
 *
 * @example
 * ```ts
 * const agent = await openAgent<{ turns: string[] }>('sqlite:./agents.db', 'chat-42', { initial: { turns: [] } });
 * await agent.save({ turns: ['hi'] });
 * ```
 */
export async function openAgent<S = unknown>(url: string | undefined, key: string, options: OpenAgentOptions<S> = {}): Promise<DataAgent<S>> {
  const t = resolveTarget(url, 'agent', options.env);
  const initial = options.initial === undefined ? {} : { initial: options.initial };
  switch (t.kind) {
    case 'memory':
      return new VolatileAgent<S>({ ...initial });
    case 'file':
      return new PersistentAgent<S>({ path: join(t.dir, fileName(key)), ...initial });
    case 'sqlite':
      return new SQLAgent<S>({ path: t.path, id: key, ...initial });
    case 'postgres':
      return new SQLAgent<S>({ connectionString: t.connectionString, id: key, ...initial });
    case 'redis': {
      const { RedisAgent } = await import('../redis.js');
      return new RedisAgent<S>({ url: t.redisUrl, key, ...(t.prefix === undefined ? {} : { prefix: t.prefix }), ...initial }) as DataAgent<S>;
    }
    case 'esdb': {
      const log = await openLogTarget(t);
      try {
        return new LogOwningStreamAgent<S>({ log, stream: key, ...initial }) as unknown as DataAgent<S>;
      } catch (e) {
        await log.close();
        throw e;
      }
    }
  }
}

/**
 * The StreamAgent openAgent hands out for `esdb://`: openAgent opened its log, so nobody else can
 * close it; a plain StreamAgent leaves its log to the caller, this one closes it with itself.
 */
class LogOwningStreamAgent<S> extends StreamAgent<never, S> {
  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.log.close();
    }
  }
}
