/**
 * Access control of a Store: the `authorize` hook, asked before an operation touches the log or
 * the views, so a denied operation throws AccessDeniedError and appends nothing.
 *
 * Decisions may be cached (the policy-decision cache): each for `cacheMs` (by the Store's clock),
 * at most `maxEntries` of them (the least recently used goes first); `policyChanged()` drops them
 * all at once. The cache counts its hits, misses, evictions and expiries, shown by
 * `store.stats().accessCache` (with `stats: true`).
 */
import { AccessDeniedError, ValidationError, shown } from '../core/errors.js';
import type { AccessCacheStats } from '../observability/types.js';
import type { Authorize, AuthorizeRequest, StoreClock } from './types.js';

/** Default bound of the policy-decision cache (decisions). */
export const DEFAULT_AUTHORIZE_CACHE_SIZE = 10_000;

interface Decision {
  allowed: boolean;
  until: number;
}

export class Access {
  /** in use order, least recently used first (a Map keeps insertion order; a hit moves the entry to the end) */
  private readonly cache = new Map<string, Decision>();
  /** bumped by policyChanged(), so a decision in flight when the policy changed is not cached */
  private epoch = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;
  private expired = 0;
  private invalidations = 0;

  constructor(
    private readonly hook: Authorize | undefined,
    private readonly cacheMs: number,
    private readonly clock: StoreClock,
    private readonly maxEntries: number = DEFAULT_AUTHORIZE_CACHE_SIZE,
  ) {
    if (hook !== undefined && typeof hook !== 'function') throw new ValidationError('Store: authorize must be a function');
    if (typeof cacheMs !== 'number' || !Number.isFinite(cacheMs) || cacheMs < 0) throw new ValidationError(`Store: authorizeCacheMs must be >= 0, got ${shown(cacheMs)}`);
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new ValidationError(`Store: authorizeCacheSize must be an integer >= 1, got ${shown(maxEntries)}`);
  }

  /** Whether there is a hook to ask. */
  get active(): boolean {
    return this.hook !== undefined;
  }

  /** Throw AccessDeniedError unless the hook allows `req`. */
  async check(req: AuthorizeRequest): Promise<void> {
    if (this.hook === undefined) return;
    if (!(await this.decide(req))) {
      const where = req.key === undefined ? `namespace ${JSON.stringify(req.namespace)}` : `key ${JSON.stringify(req.key)} in namespace ${JSON.stringify(req.namespace)}`;
      throw new AccessDeniedError(`${req.actor ?? 'anonymous'} may not ${req.action} ${where}`, req.actor, req.action);
    }
  }

  private async decide(req: AuthorizeRequest): Promise<boolean> {
    if (this.cacheMs === 0) {
      this.misses++;
      return (await this.hook!(req)) === true;
    }
    const id = JSON.stringify([req.actor ?? null, req.action, req.namespace, req.key ?? null]);
    const now = this.clock.now();
    const hit = this.cache.get(id);
    if (hit) {
      this.cache.delete(id);
      if (hit.until > now) {
        this.hits++;
        this.cache.set(id, hit); // most recently used now
        return hit.allowed;
      }
      this.expired++;
    }
    this.misses++;
    const epoch = this.epoch;
    const allowed = (await this.hook!(req)) === true;
    if (epoch === this.epoch) this.remember(id, { allowed, until: now + this.cacheMs });
    return allowed;
  }

  private remember(id: string, d: Decision): void {
    this.cache.delete(id);
    this.cache.set(id, d);
    while (this.cache.size > this.maxEntries) {
      this.cache.delete(this.cache.keys().next().value!);
      this.evictions++;
    }
  }

  /** Forget every cached decision. */
  policyChanged(): void {
    this.epoch++;
    this.invalidations++;
    this.cache.clear();
  }

  /** The cache's figures. */
  stats(): AccessCacheStats {
    const lookups = this.hits + this.misses;
    return {
      hits: this.hits,
      misses: this.misses,
      hitRatio: lookups === 0 ? 0 : this.hits / lookups,
      evictions: this.evictions,
      expired: this.expired,
      invalidations: this.invalidations,
      size: this.cache.size,
      maxEntries: this.maxEntries,
    };
  }
}
