/**
 * PostgresViewStorage: views in a PostgreSQL schema. In the log's own schema (and database) they
 * can run inline, inside the append's transaction; elsewhere they are async views of any log.
 * Every runner transaction is BEGIN ... COMMIT on one pooled connection, with the lease row
 * checked (and extended) in it, so a runner that lost its lease can never commit.
 *
 * @example
 * ```ts
 * import { PostgresEventLog, PostgresViewStorage } from 'dgent/postgres';
 * const log = new PostgresEventLog({ connectionString: url, schema: 'app' });
 * const views = new PostgresViewStorage({ connectionString: url, schema: 'app' }); // inline-capable
 * const runner = new ProjectionRunner({ log, storage: views, projections: [counts] });
 * await runner.start();
 * const t = await views.table('type_counts', 'counts');
 * const { rows } = await views.query(`SELECT n FROM ${t} WHERE type = $1`, ['UserSaid']);
 * ```
 */
import { pg } from '../../streams/postgres/pg.js';
import { ValidationError } from '../../core/errors.js';
import type { AppendTransaction, RecordedEvent } from '../../streams/event-log.js';
import { isUnavailable, mapPgError, type Queryable } from '../../streams/postgres/errors.js';
import { named, StatementBatch } from './postgres-batch.js';
import { PostgresEventLog, type PostgresPool } from '../../streams/postgres/postgres-event-log.js';
import { createOwnedPool, type PoolClass } from '../../streams/postgres/pool.js';
import { validateSchemaName } from '../../streams/postgres/schema.js';
import type { Projection } from '../projection.js';
import type { PostgresViewContext } from '../view-context.js';
import { generationOfTable, generationTableName, NAME_PREFIX } from '../view-storage.js';
import { inlineApplies, leaseLost, type BatchTarget, type ControlRow, type Fence, type InlineItem, type SwitchTail } from '../runner/driver.js';
import { foldCommittedTail } from './postgres-tail.js';
import { ActiveCache, type StorageBase } from './active-cache.js';
import { controlSql, toControl, type ControlSql } from './postgres-control.js';
import { PostgresFusion } from './postgres-fused.js';

/** Options of {@link PostgresViewStorage}: either `pool` or `connectionString`. */
export interface PostgresViewStorageOptions {
  /** a pg Pool you own (not closed by `close()`) */
  pool?: PostgresPool | undefined;
  connectionString?: string | undefined;
  /** schema of the views (default `dgent`, the log's default: inline-capable with a log of the same schema) */
  schema?: string | undefined;
  /** pool size when the storage creates the pool (default 10) */
  maxConnections?: number | undefined;
  /** how long `active()` may answer from its cache, ms (default 1000) */
  generationCacheMs?: number | undefined;
}

type Client = Queryable & { release(destroy?: boolean): void };

/** PostgreSQL views; see the file comment. */
export class PostgresViewStorage extends ActiveCache implements StorageBase {
  readonly kind = 'postgres' as const;
  readonly schema: string;
  private readonly pool: PostgresPool;
  private readonly ownsPool: boolean;
  private readonly sql: ControlSql;
  private ready: Promise<void> | undefined;
  private closed = false;
  readonly inline = {
    apply: (tx: AppendTransaction, items: readonly InlineItem[], max: number) => this.applyInline(tx as AppendTransaction & Queryable, items, max),
    fusion: (projections: readonly Projection<any>[]) => {
      const f = new PostgresFusion(this.schema, projections, generationTableName);
      if (!f.possible) return undefined;
      this.fusions.add(f);
      return f;
    },
    releaseFusion: (f: unknown) => {
      if (!this.fusions.delete(f as PostgresFusion)) return;
      // its counts stay in fusionStats(), which counts since the storage was created
      this.released.fused += (f as PostgresFusion).counts.fused;
      this.released.stale += (f as PostgresFusion).counts.stale;
    },
  };
  /** counts of the fusions of groups that have closed */
  private readonly released = { fused: 0, stale: 0 };
  /** fusions of the inline groups running on this storage: the usual inline path tells them the active generations */
  private readonly fusions = new Set<PostgresFusion>();

  constructor(options: PostgresViewStorageOptions) {
    super(options?.generationCacheMs);
    if (!options || !options.pool === !options.connectionString) throw new ValidationError('PostgresViewStorage needs exactly one of { pool, connectionString }');
    this.schema = validateSchemaName(options.schema ?? 'dgent');
    this.sql = controlSql(this.schema);
    if (options.pool) {
      this.pool = options.pool;
      this.ownsPool = false;
    } else {
      this.pool = createOwnedPool(pg.Pool as unknown as PoolClass<PostgresPool>, options.connectionString!, { maxConnections: options.maxConnections }, 'PostgresViewStorage').pool;
      this.ownsPool = true;
    }
  }

  /**
   * Inline appends written in one statement with the append (a lone `kv.set` with the built-in
   * views, see docs/projections.md) and fused statements redone the usual way because a view had
   * moved to another generation meanwhile. A diagnostic: counts since this storage was created.
   */
  fusionStats(): { fused: number; stale: number } {
    let { fused, stale } = this.released;
    for (const f of this.fusions) (fused += f.counts.fused), (stale += f.counts.stale);
    return { fused, stale };
  }

  /** Run a read (or any statement) on the pool, e.g. against `await table(...)`. */
  async query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }> {
    try {
      return await this.pool.query(text, values);
    } catch (e) {
      throw isUnavailable(e) ? mapPgError(e, 'reading a view') : e;
    }
  }

  /** The schema-qualified quoted table `local` of the active generation of `projection` (undefined before it is built). */
  async table(projection: string, local: string): Promise<string | undefined> {
    const a = await this.active(projection);
    return a && `"${this.schema}"."${generationTableName(projection, a.generation, local)}"`;
  }

  hostsInline(log: unknown): boolean {
    return log instanceof PostgresEventLog && log.schema === this.schema;
  }

  init(): Promise<void> {
    this.ready ??= this.tx(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`dgent_projections:${this.schema}`]);
      for (const s of this.sql.ddl) await c.query(s);
    }).catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end();
  }

  protected async readControl(name: string): Promise<ControlRow | undefined> {
    await this.init();
    return toControl((await this.query(this.sql.get, [name])).rows[0]);
  }

  async ensureControl(name: string, initial: ControlRow): Promise<ControlRow> {
    await this.init();
    await this.query(this.sql.insert, [name, initial.generation, initial.version, initial.position, initial.seen]);
    return (await this.control(name))!;
  }

  async setup(target: BatchTarget): Promise<void> {
    const setup = target.projection.setup;
    if (setup) {
      await this.tx(async (c) => {
        const b = new StatementBatch(c);
        await setup.call(target.projection, this.context(b, target, () => undefined));
        await b.flush();
      });
    }
  }

  async commit(target: BatchTarget, events: readonly RecordedEvent[], position: number, fence: Fence | undefined): Promise<void> {
    const commits: (() => void)[] = [];
    const name = target.projection.name;
    await this.tx(async (c) => {
      if (fence) await this.fenceIn(c, name, fence);
      const ctl = toControl((await c.query(this.sql.get, [name])).rows[0]);
      if ((target.slot === 'active' ? ctl?.generation : ctl?.building?.generation) !== target.generation) throw leaseLost(name);
      const b = new StatementBatch(c);
      if (events.length > 0) await target.projection.apply(events, this.context(b, target, (fn) => commits.push(fn)));
      // the checkpoint goes with the batch's queued writes: one round trip for both
      b.defer(target.slot === 'active' ? this.sql.setPosition : this.sql.setBuilding, [name, position]);
      await b.flush();
    }, fence);
    for (const fn of commits) fn();
  }

  async beginBuild(name: string, generation: number, version: number, fence: Fence): Promise<void> {
    await this.tx(async (c) => {
      await this.fenceIn(c, name, fence);
      await c.query(this.sql.begin, [name, generation, version]);
    }, fence);
  }

  async trySwitch(name: string, generation: number, fence: Fence, tail?: SwitchTail): Promise<boolean> {
    const ok = await this.tx(async (c) => {
      await this.fenceIn(c, name, fence);
      // FOR UPDATE waits for appends whose inline hook holds the row, and holds back new ones until COMMIT
      const ctl = toControl((await c.query(this.sql.getForUpdate, [name])).rows[0]);
      if (!ctl?.building || ctl.building.generation !== generation) throw new ValidationError(`projection ${name}: generation ${generation} is not being built`);
      if (tail && this.hostsInline(tail.log) && ctl.building.position < Math.max(ctl.position, ctl.seen)) {
        const b = new StatementBatch(c);
        ctl.building.position = await foldCommittedTail(c, this.schema, ctl.building.position, async (events) => {
          await tail.projection.apply(events, this.context(b, { projection: tail.projection, generation, version: ctl.building!.version, phase: 'rebuild' }, () => undefined));
          await b.flush();
        }, tail.projection);
        await c.query(this.sql.setBuilding, [name, ctl.building.position]);
      }
      if (ctl.building.position < ctl.position || ctl.building.position < ctl.seen) return false;
      await c.query(this.sql.switch, [name]);
      return true;
    }, fence);
    if (ok) {
      this.invalidate(name);
      for (const f of this.fusions) f.forget(); // the next inline append learns the new generation (no stale fused statement)
    }
    return ok;
  }

  async dropExcept(projection: Projection<any>, keep: number): Promise<void> {
    await this.init();
    const pattern = `${NAME_PREFIX}_${projection.name}__g%`.replaceAll('_', '\\_');
    const tables = ((await this.query(this.sql.tables, [this.schema, pattern])).rows as { name: string }[]).map((r) => r.name);
    const generations = new Set(tables.map((t) => generationOfTable(projection.name, t)).filter((g): g is number => g !== undefined && g !== keep));
    for (const generation of generations) {
      await this.tx(async (c) => {
        const target = { projection, generation, version: projection.version, phase: 'rebuild' as const };
        const b = new StatementBatch(c);
        if (projection.teardown) await projection.teardown(this.context(b, target, () => undefined));
        for (const t of tables) if (generationOfTable(projection.name, t) === generation) await b.query(`DROP TABLE IF EXISTS "${this.schema}"."${t}" CASCADE`);
        await b.flush();
      });
    }
  }

  async acquire(name: string, fence: Fence): Promise<boolean> {
    await this.init();
    return (await this.query(this.sql.acquire, [name, fence.owner, fence.ttlMs])).rowCount === 1;
  }

  async release(name: string, owner: string): Promise<void> {
    await this.query(this.sql.release, [name, owner]);
  }

  private async fenceIn(c: Queryable, name: string, fence: Fence): Promise<void> {
    if ((await c.query(this.sql.fence, [name, fence.owner, fence.ttlMs])).rowCount !== 1) throw leaseLost(name);
  }

  private context(c: StatementBatch, t: Omit<BatchTarget, 'slot'>, onCommit: (fn: () => void) => void): PostgresViewContext {
    const schema = this.schema;
    return {
      storage: 'postgres',
      projection: t.projection.name,
      generation: t.generation,
      version: t.version,
      phase: t.phase,
      onCommit,
      schema,
      query: (text, values) => c.query(text, values),
      defer: (text, values) => c.defer(text, values),
      table: (local) => `"${schema}"."${generationTableName(t.projection.name, t.generation, local)}"`,
      name: (local) => `"${generationTableName(t.projection.name, t.generation, local)}"`,
    };
  }

  /** BEGIN ... COMMIT on one connection; a lost connection is BackendUnavailableError (and the connection is dropped). */
  private async tx<T>(fn: (c: Queryable) => Promise<T>, fence?: Fence): Promise<T> {
    if (this.closed) throw new ValidationError('PostgresViewStorage is closed');
    let c: Client;
    try {
      c = (await this.pool.connect()) as unknown as Client;
    } catch (e) {
      throw mapPgError(e, 'connecting for a view transaction', this.pool);
    }
    let broken = false;
    try {
      // a fenced transaction holds the lease row: if this process stalls mid-transaction (a long
      // pause, SIGSTOP) the server ends it after the lease time, so the standby is not blocked on
      // the row for longer than that (the lease itself has expired by then)
      await c.query(fence ? `BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.floor(fence.ttlMs))}` : 'BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (e) {
      broken = isUnavailable(e);
      if (!broken) await c.query('ROLLBACK').catch(() => (broken = true));
      throw broken ? mapPgError(e, 'applying a view batch') : e;
    } finally {
      c.release(broken);
    }
  }

  private async applyInline(tx: AppendTransaction & Queryable, items: readonly InlineItem[], max: number): Promise<void> {
    // named: prepared once per connection (the append's connection comes from the log's pool)
    const { rows } = await (tx as Queryable).query(named(this.sql.inline, [max, items.map((i) => i.projection.name), items.map((i) => i.projection.version)]));
    const active = new Map((rows as { name: string; generation: number; version: number; b_version: number | null }[]).map((r) => [r.name, r]));
    for (const f of this.fusions) f.learn(rows);
    // the projections' queued writes go together: one round trip for all of them (see StatementBatch)
    const b = new StatementBatch(tx);
    for (const { projection, events } of items) {
      const row = active.get(projection.name);
      if (!row) throw new ValidationError(`projection ${projection.name} has no control record in schema ${this.schema}`);
      if (!inlineApplies(projection.name, projection.version, { generation: row.generation, version: row.version, buildingVersion: row.b_version }) || events.length === 0) continue;
      await projection.apply(events, this.context(b, { projection, generation: row.generation, version: row.version, phase: 'inline' }, (fn) => tx.onCommit(fn)));
    }
    await b.flush();
  }
}
