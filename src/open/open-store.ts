/** `openStore(url)`: a Store over the log a backend URL names, closing that log when it closes. */
import type { EventLog } from '../streams/event-log.js';
import { Store } from '../store/store.js';
import type { StoreOptions } from '../store/types.js';
import { resolveTarget } from './env.js';
import { openLogTarget } from './open-log.js';

/** A Store that owns its log: `close()` closes both. */
class OwningStore extends Store {
  readonly #log: EventLog;
  constructor(options: StoreOptions) {
    super(options);
    this.#log = options.log;
  }
  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      await this.#log.close();
    }
  }
}

/** Options of {@link openStore}: the Store's options but the log, and where to read `DGENT_*`. */
export type OpenStoreOptions = Omit<StoreOptions, 'log'> & { env?: Record<string, string | undefined> | undefined };

/**
 * Open a Store on the backend `url` names (undefined: `DGENT_STORE_URL` or `DGENT_URL`); its views
 * default to the log's backend (see Store) where that backend can hold them: memory, SQLite and
 * PostgreSQL. A Redis, file or EventStoreDB log needs `views` (e.g. a RedisViewStorage), else
 * ValidationError. `close()` also closes the log.
 *
 * @example
 * ```ts
 * const store = await openStore('sqlite:./app.db');
 * await store.set('user:1', { name: 'Ada' });
 * await store.close();
 * ```
 */
export async function openStore(url?: string, options: OpenStoreOptions = {}): Promise<Store> {
  const { env, ...rest } = options;
  const log = await openLogTarget(resolveTarget(url, 'store', env));
  try {
    return new OwningStore({ ...rest, log });
  } catch (e) {
    await log.close();
    throw e;
  }
}
