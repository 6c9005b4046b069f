/**
 * What `apply`, `setup` and `teardown` of a projection receive: the open transaction of the view's
 * storage and the names of the projection's objects in the generation being written.
 *
 * One type per storage, discriminated by `storage`; a projection supporting several storages
 * switches on `ctx.storage`. Driver types are imported as types only: the core entry never loads
 * pg or ioredis.
 */
import type { SqliteDatabase } from '../streams/sqlite/connection.js';

/**
 * Filled in by `dgent/redis` (module augmentation) with ioredis's client type, so that the types
 * of the core entry need no ioredis: a consumer without `dgent/redis` sees a Redis view's client
 * as `unknown`, one that imports `dgent/redis` as ioredis's `Redis | Cluster`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- augmented by dgent/redis
export interface RedisViewClientSlot {}
/** The client a Redis view gets: ioredis's `Redis | Cluster` once `dgent/redis` is imported. */
export type RedisViewClient = RedisViewClientSlot extends { client: infer C } ? C : unknown;

/** The four kinds of view storage. */
export type StorageKind = 'memory' | 'sqlite' | 'postgres' | 'redis';

/** Why a batch is being applied: inside an append, by an async runner, or into a rebuild's shadow generation. */
export type ViewPhase = 'inline' | 'async' | 'rebuild';

/** What every context has. */
export interface ViewContextBase {
  readonly storage: StorageKind;
  /** the projection's name */
  readonly projection: string;
  /** the generation being written (1, 2, ...); a rebuild writes active + 1 while readers use the active one */
  readonly generation: number;
  /** the projection's code version this generation is built with */
  readonly version: number;
  readonly phase: ViewPhase;
  /** run `fn` once this batch has committed (e.g. notify listeners); never runs when it rolls back */
  onCommit(fn: () => void): void;
}

/**
 * Memory views: maps held by the storage object, one set per generation. Writes made through the
 * maps during a batch are undone if the batch rolls back (the append failed, a later projection
 * threw, the apply threw). Keep `apply` synchronous on memory: readers in this process share the maps.
 */
export interface MemoryViewContext extends ViewContextBase {
  readonly storage: 'memory';
  /**
   * The generation's map named `local` (created empty on first use). `set`, `delete` and `clear`
   * are recorded for rollback; store immutable (frozen) values, never mutate a value in place.
   */
  map<K = string, V = unknown>(local: string): Map<K, V>;
}

/**
 * SQLite views: `db` is inside a write transaction (the append's own in inline mode, or the
 * runner's); the checkpoint is written in it too. Never COMMIT/ROLLBACK it; `db.transaction()`
 * nests as a savepoint.
 */
export interface SqliteViewContext extends ViewContextBase {
  readonly storage: 'sqlite';
  readonly db: SqliteDatabase;
  /**
   * The quoted name of the projection's table `local` in this generation, ready to embed in SQL,
   * e.g. `ctx.table('kv')` -> `"dgent_p_kv__g3_kv"`. `local`: lower-case letter first, letters,
   * digits, `_`, at most 16 characters (ValidationError otherwise). Name indexes with
   * `ctx.table('kv_by_ns')` too, so teardown finds them.
   */
  table(local: string): string;
}

/**
 * PostgreSQL views: `query` runs inside BEGIN ... COMMIT (the append's own transaction in inline
 * mode, or the runner's); bind values, never interpolate them.
 */
export interface PostgresViewContext extends ViewContextBase {
  readonly storage: 'postgres';
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  /**
   * Queue a write whose result the batch does not need. Queued writes go to the server together, as
   * ONE statement (each a data-modifying CTE), before the next `query` and when the batch ends: one
   * round trip instead of one per write (an inline append pays every round trip). They share one
   * snapshot, so a write that a later one depends on must go through `query`. The text must be a
   * single INSERT/UPDATE/DELETE without its own WITH clause, and contain `$<digits>` only as placeholders.
   */
  defer(text: string, values?: unknown[]): void;
  /** the schema holding the views (validated identifier, unquoted) */
  readonly schema: string;
  /**
   * The quoted, schema-qualified name of the table `local` in this generation, e.g.
   * `"app"."dgent_p_kv__g3_kv"`. Same rules for `local` as SQLite. For index names (which
   * PostgreSQL does not schema-qualify) use {@link PostgresViewContext.name}.
   */
  table(local: string): string;
  /** the bare quoted name (no schema) of `local` in this generation, for CREATE INDEX names */
  name(local: string): string;
}

/** A Redis command argument. */
export type RedisArg = string | number | Buffer;

/**
 * Redis views (async only). Reads go through `redis` and see committed state only (not this
 * batch's queued writes: keep an overlay in `apply` if a batch writes a key and reads it again).
 * Writes are queued with `call` and run at commit in one Lua script, together with the checkpoint,
 * only if this runner still holds the projection's lease (fencing: a runner that lost its lease
 * can never commit). Every key must come from `key()`, so it is in this generation and in the
 * projection's cluster slot.
 */
export interface RedisViewContext extends ViewContextBase {
  readonly storage: 'redis';
  /** for reads (GET, HGET, ZRANGE, SCAN ...); never write through it */
  readonly redis: RedisViewClient;
  /**
   * The key (or key prefix) `local` of this generation, e.g. `ctx.key('kv')` ->
   * `myapp:p:{kv}:g3:kv`; append your own suffix: `${ctx.key('kv')}:${ns}/${key}`.
   */
  key(local: string): string;
  /** queue a write command, e.g. `ctx.call('HSET', ctx.key('kv') + ':default/a', 'v', json)`; runs at commit, atomically */
  call(command: string, ...args: RedisArg[]): void;
}

/** The context a projection receives, discriminated by `storage`. */
export type ViewContext = MemoryViewContext | SqliteViewContext | PostgresViewContext | RedisViewContext;
