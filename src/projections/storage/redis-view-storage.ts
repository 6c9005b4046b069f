/**
 * RedisViewStorage: async views in Redis, for any log (a PostgreSQL log projected into Redis, say).
 * A batch's writes are queued by the projection (`ctx.call`) and run in one Lua script with the
 * checkpoint, after the script checked the runner's lease token: only the lease holder commits.
 *
 * Redis does not roll a script back when a command inside it fails (a wrong-type key written by
 * someone else): the batch is then partly applied and the projection stops as failed; rebuild it.
 *
 * @example
 * ```ts
 * import { RedisViewStorage } from 'dgent/redis';
 * const views = new RedisViewStorage({ url: 'redis://127.0.0.1:6379', prefix: 'app' });
 * const runner = new ProjectionRunner({ log: pgLog, projections: [{ projection: counts, storage: views }] });
 * await runner.start();
 * const key = await views.key('type_counts', 'counts');
 * await views.redis.hget(key!, 'UserSaid');
 * ```
 */
import { BackendUnavailableError, ValidationError } from '../../core/errors.js';
import { mappedClient, quitClient, resolveClient, toDgentError, validatePrefix, type RedisClient, type RedisConnectionOptions } from '../../agents/redis/client.js';
import type { RecordedEvent } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import type { RedisArg, RedisViewContext } from '../view-context.js';
import { generationKey } from '../view-storage.js';
import { isLeaseLost, leaseLost, type BatchTarget, type ControlRow, type Fence } from '../runner/driver.js';
import { ActiveCache, type StorageBase } from './active-cache.js';
import { ACQUIRE, BEGIN_BUILD, COMMIT, RELEASE, SWITCH } from './redis-scripts.js';
import type { LuaScript } from '../../agents/redis/client.js';

/** Options of {@link RedisViewStorage}. */
export interface RedisViewStorageOptions extends RedisConnectionOptions {
  /** key prefix (default `dgent`); no `{` or `}` */
  prefix?: string | undefined;
  /** how long `active()` may answer from its cache, ms (default 1000) */
  generationCacheMs?: number | undefined;
}

const escapeGlob = (s: string): string => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

/** Redis views; see the file comment. */
export class RedisViewStorage extends ActiveCache implements StorageBase {
  readonly kind = 'redis' as const;
  readonly prefix: string;
  /**
   * The client for readers and projections' `ctx.redis`: a failed call rejects with a dgent error
   * (BackendUnavailableError when Redis is unreachable, so an async projection retries instead of
   * failing; a reader's caller gets the documented error, not ioredis's own).
   */
  readonly redis: RedisClient;
  /** the client itself (its own errors, for the storage's scripts and its close) */
  private readonly client: RedisClient;
  private readonly owned: boolean;
  private closed = false;
  readonly inline = undefined;

  constructor(options: RedisViewStorageOptions) {
    super(options?.generationCacheMs);
    this.prefix = validatePrefix(options?.prefix ?? 'dgent');
    const { client, owned } = resolveClient(options ?? {}, 'RedisViewStorage');
    this.client = client;
    this.redis = mappedClient(client, 'Redis views');
    this.owned = owned;
  }

  /** The key prefix `local` of the active generation of `projection` (undefined before it is built). */
  async key(projection: string, local: string): Promise<string | undefined> {
    const a = await this.active(projection);
    return a && generationKey(this.prefix, projection, a.generation, local);
  }

  hostsInline(): boolean {
    return false;
  }

  async init(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.owned) await quitClient(this.client);
  }

  protected async readControl(name: string): Promise<ControlRow | undefined> {
    const h = await this.call(() => this.client.hgetall(this.ctlKey(name)));
    if (!h || h.generation === undefined) return undefined;
    const n = (k: string): number => Number(h[k]);
    return {
      generation: n('generation'),
      version: n('version'),
      position: n('position'),
      seen: n('seen'),
      building: h.b_generation === undefined ? undefined : { generation: n('b_generation'), version: n('b_version'), position: n('b_position') },
    };
  }

  async ensureControl(name: string, initial: ControlRow): Promise<ControlRow> {
    const key = this.ctlKey(name);
    // HSETNX on the first field decides who creates the record; the others fill it (same values from every runner)
    const created = await this.call(() => this.client.hsetnx(key, 'generation', initial.generation));
    if (created === 1) await this.call(() => this.client.hset(key, 'version', initial.version, 'position', initial.position, 'seen', initial.seen));
    else await this.call(() => this.client.hsetnx(key, 'seen', 0));
    for (let i = 0; i < 50; i++) {
      const c = await this.control(name);
      if (c && !Number.isNaN(c.version)) return c;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new ValidationError(`projection ${name}: control record ${key} is incomplete`);
  }

  async setup(target: BatchTarget): Promise<void> {
    if (!target.projection.setup) return;
    const queued: RedisArg[][] = [];
    await target.projection.setup(this.context(target, queued, () => undefined));
    if (queued.length > 0) await this.call(() => this.client.multi(queued.map(([c, ...a]) => ['call', String(c), ...a] as never)).exec());
  }

  async commit(target: BatchTarget, events: readonly RecordedEvent[], position: number, fence: Fence | undefined): Promise<void> {
    const queued: RedisArg[][] = [];
    const commits: (() => void)[] = [];
    if (events.length > 0) await target.projection.apply(events, this.context(target, queued, (fn) => commits.push(fn)));
    const args: RedisArg[] = [fence?.owner ?? '', fence?.ttlMs ?? 0, target.slot, target.generation, position, queued.length];
    for (const cmd of queued) args.push(cmd.length, ...cmd);
    try {
      await this.script(COMMIT, target.projection.name, args);
    } catch (e) {
      // a command of the batch failed inside the script: the commands before it stayed applied
      // (Redis has no rollback), so the batch must never be retried in parts
      if (!isLeaseLost(e) && !(e instanceof BackendUnavailableError)) throw Object.assign(e as object, { partialBatch: true });
      throw e;
    }
    for (const fn of commits) fn();
  }

  async beginBuild(name: string, generation: number, version: number, fence: Fence): Promise<void> {
    await this.script(BEGIN_BUILD, name, [fence.owner, fence.ttlMs, generation, version]);
  }

  async trySwitch(name: string, generation: number, fence: Fence): Promise<boolean> {
    const ok = (await this.script(SWITCH, name, [fence.owner, fence.ttlMs, generation])) === 1;
    if (ok) this.invalidate(name);
    return ok;
  }

  async dropExcept(projection: Projection<any>, keep: number): Promise<void> {
    const head = `${this.prefix}:p:{${projection.name}}:g`;
    // SCAN runs per node: on a cluster, on every master (the projection's keys share one slot, so
    // one of them holds them all; the others answer with nothing)
    type Scanner = { scanStream(o: object): AsyncIterable<string[]> };
    const cluster = this.client as { isCluster?: boolean; nodes?: (role: 'master') => Scanner[] };
    const nodes: Scanner[] = cluster.isCluster === true && cluster.nodes ? cluster.nodes('master') : [this.client as unknown as Scanner];
    const doomed = new Map<number, string[]>();
    for (const node of nodes) {
      const seen = new Set<string>();
      for await (const keys of node.scanStream({ match: `${escapeGlob(head)}*`, count: 500 })) {
        for (const k of keys) {
          if (seen.has(k)) continue; // SCAN may return a key twice
          seen.add(k);
          const g = Number(/^(\d+):/.exec(k.slice(head.length))?.[1]);
          if (Number.isInteger(g) && g !== keep) doomed.set(g, [...(doomed.get(g) ?? []), k]);
        }
      }
    }
    for (const [generation, keys] of doomed) {
      if (projection.teardown) await this.setup({ projection: { ...projection, setup: projection.teardown }, generation, version: projection.version, phase: 'rebuild', slot: 'building' });
      for (let i = 0; i < keys.length; i += 500) await this.call(() => this.client.unlink(...keys.slice(i, i + 500)));
    }
  }

  async acquire(name: string, fence: Fence): Promise<boolean> {
    return (await this.call(() => ACQUIRE.run(this.client, [this.leaseKey(name)], [fence.owner, fence.ttlMs]))) === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.call(() => RELEASE.run(this.client, [this.leaseKey(name)], [owner]));
  }

  private ctlKey(name: string): string {
    return `${this.prefix}:p:{${name}}:ctl`;
  }

  private leaseKey(name: string): string {
    return `${this.prefix}:p:{${name}}:lease`;
  }

  private async script(s: LuaScript, name: string, args: RedisArg[]): Promise<unknown> {
    try {
      return await s.run(this.client, [this.leaseKey(name), this.ctlKey(name)], args as (string | number)[]);
    } catch (e) {
      if (e instanceof Error && /DGENT_LEASE_LOST/.test(e.message)) throw leaseLost(name);
      if (e instanceof Error && /DGENT_NOT_BUILDING/.test(e.message)) throw new ValidationError(`projection ${name}: no such generation is being built`);
      throw isLeaseLost(e) ? e : toDgentError(e, `projection ${name}`, this.client);
    }
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw toDgentError(e, 'Redis views', this.client);
    }
  }

  private context(t: Omit<BatchTarget, 'slot'>, queued: RedisArg[][], onCommit: (fn: () => void) => void): RedisViewContext {
    const { prefix, redis } = this;
    return {
      storage: 'redis',
      projection: t.projection.name,
      generation: t.generation,
      version: t.version,
      phase: t.phase,
      onCommit,
      redis,
      key: (local) => generationKey(prefix, t.projection.name, t.generation, local),
      call(command: string, ...args: RedisArg[]) {
        if (typeof command !== 'string' || command.length === 0) throw new ValidationError('ctx.call needs a command name');
        queued.push([command, ...args]);
      },
    };
  }
}
