/**
 * Access control of a Store: the `authorize` hook, asked before an operation touches the log or
 * the views, so a denied operation throws AccessDeniedError and appends nothing. Decisions may be
 * cached for `cacheMs` (by the Store's clock); `policyChanged()` drops the cache at once.
 */
import { AccessDeniedError, ValidationError } from '../core/errors.js';
import type { Authorize, AuthorizeRequest, StoreClock } from './types.js';

export class Access {
  private readonly cache = new Map<string, { allowed: boolean; until: number }>();
  /** bumped by policyChanged(), so a decision in flight when the policy changed is not cached */
  private epoch = 0;

  constructor(
    private readonly hook: Authorize | undefined,
    private readonly cacheMs: number,
    private readonly clock: StoreClock,
  ) {
    if (hook !== undefined && typeof hook !== 'function') throw new ValidationError('Store: authorize must be a function');
    if (!Number.isFinite(cacheMs) || cacheMs < 0) throw new ValidationError(`Store: authorizeCacheMs must be >= 0, got ${String(cacheMs)}`);
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
    if (this.cacheMs === 0) return (await this.hook!(req)) === true;
    const id = JSON.stringify([req.actor ?? null, req.action, req.namespace, req.key ?? null]);
    const now = this.clock.now();
    const hit = this.cache.get(id);
    if (hit && hit.until > now) return hit.allowed;
    const epoch = this.epoch;
    const allowed = (await this.hook!(req)) === true;
    if (epoch === this.epoch) this.cache.set(id, { allowed, until: now + this.cacheMs });
    return allowed;
  }

  /** Forget every cached decision. */
  policyChanged(): void {
    this.epoch++;
    this.cache.clear();
  }
}
