/**
 * The Projection contract: a plain object that folds events of the log into a view.
 *
 * A projection says which event types it `handles` and how to `apply` a batch of them to its view,
 * inside a transaction of the view's storage. It never manages checkpoints, batching, leases or
 * rebuilds: the {@link ProjectionRunner} does, and it commits the projection's checkpoint in the
 * same transaction as the view update, so a view is always exactly the fold of a prefix of the log.
 *
 * Storage is per generation: every object a projection creates is named through its context
 * (`ctx.table('kv')`, `ctx.key('kv')`, `ctx.map('kv')`), so a rebuild can fold the log into a new
 * generation (shadow) while readers keep using the active one, then switch atomically.
 *
 * @example
 * ```ts
 * import { defineProjection } from 'dgent';
 * const counts = defineProjection({
 *   name: 'type_counts',
 *   version: 1,
 *   handles: ['UserSaid', 'AgentSaid'],
 *   setup(ctx) {
 *     if (ctx.storage === 'sqlite') ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${ctx.table('counts')} (type TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
 *   },
 *   apply(events, ctx) {
 *     if (ctx.storage === 'memory') {
 *       const m = ctx.map<string, number>('counts');
 *       for (const e of events) m.set(e.type, (m.get(e.type) ?? 0) + 1);
 *     } else if (ctx.storage === 'sqlite') {
 *       const up = ctx.db.prepare(`INSERT INTO ${ctx.table('counts')} VALUES (?, 1) ON CONFLICT(type) DO UPDATE SET n = n + 1`);
 *       for (const e of events) up.run(e.type);
 *     } else throw new Error(`no ${ctx.storage} view`);
 *   },
 * });
 * ```
 */
import { ValidationError, shown } from '../core/errors.js';
import type { RecordedEvent } from '../streams/event-log.js';
import type { ViewContext } from './view-context.js';

export type {
  ViewContext,
  ViewContextBase,
  ViewPhase,
  StorageKind,
  MemoryViewContext,
  SqliteViewContext,
  PostgresViewContext,
  RedisViewContext,
  RedisArg,
} from './view-context.js';

/**
 * A projection. `C` narrows the context to the storages it supports (default: all four, as a
 * union discriminated by `ctx.storage`).
 */
export interface Projection<C extends ViewContext = ViewContext> {
  /**
   * Unique name: lower-case letter first, then letters, digits, single `_` (no `__`, not ending
   * in `_`); at most 24 characters (it becomes part of table names and Redis keys).
   */
  readonly name: string;
  /**
   * Version of the fold's code, an integer >= 1. Bump it when `apply` or the view's shape
   * changes: on start, a runner finding the view at another version rebuilds it into a new
   * generation (blue-green) while the old one keeps serving, then switches.
   */
  readonly version: number;
  /**
   * Event types the projection folds, or `'*'` for every event. Other events still advance the
   * checkpoint (they are part of the prefix), but `apply` never sees them.
   */
  readonly handles: readonly string[] | '*';
  /**
   * Storages the projection can fold into (default: every kind its `apply` is typed for; the
   * runner refuses a projection registered on another storage with ValidationError).
   */
  readonly storages?: readonly ViewContext['storage'][] | undefined;
  /**
   * Create the view's objects of one generation (tables, indexes). Runs once per generation,
   * inside a transaction, before the first `apply`; idempotent code (`IF NOT EXISTS`) is advised.
   * Not called for Redis and memory unless given (keys and maps need no creation).
   */
  setup?(ctx: C): void | Promise<void>;
  /**
   * Fold a batch of events (in position order, only types in `handles`, never empty) into the
   * view, using `ctx` only. Throwing aborts the batch: nothing of it is kept, the checkpoint does
   * not move. In inline mode the append itself is aborted and rejects with the error; in async
   * mode the projection stops (state `failed`) with the failing event's position in `status()`.
   */
  apply(events: readonly RecordedEvent[], ctx: C): void | Promise<void>;
  /**
   * Drop the objects of a retired generation. Optional: by default the runner drops every table
   * (SQLite/PostgreSQL) and key (Redis) named for that generation, and forgets its maps (memory).
   */
  teardown?(ctx: C): void | Promise<void>;
}

const NAME = /^[a-z][a-z0-9_]{0,23}$/;

/**
 * Check a projection's fields and return it frozen (a projection is plain data and two
 * functions). Throws ValidationError naming the bad field.
 *
 * @example
 * ```ts
 * const p = defineProjection({ name: 'sums', version: 1, handles: ['Added'], apply(events, ctx) { ... } });
 * ```
 */
export function defineProjection<C extends ViewContext = ViewContext>(projection: Projection<C>): Projection<C> {
  const p = projection as Partial<Projection<C>> | undefined;
  if (!p || typeof p !== 'object') throw new ValidationError('defineProjection needs an object');
  if (typeof p.name !== 'string' || !NAME.test(p.name) || p.name.includes('__') || p.name.endsWith('_')) {
    throw new ValidationError(`projection name must match ${String(NAME)} without '__' or a trailing '_' (lower-case, <= 24 characters), got ${JSON.stringify(p.name)}`);
  }
  if (typeof p.version !== 'number' || !Number.isInteger(p.version) || p.version < 1 || p.version > 2 ** 31 - 1) {
    throw new ValidationError(`projection ${p.name}: version must be an integer >= 1, got ${shown(p.version)}`);
  }
  if (p.handles !== '*') {
    if (!Array.isArray(p.handles) || p.handles.length === 0 || !p.handles.every((t) => typeof t === 'string' && t.length > 0)) {
      throw new ValidationError(`projection ${p.name}: handles must be '*' or a non-empty array of event types`);
    }
  }
  if (typeof p.apply !== 'function') throw new ValidationError(`projection ${p.name}: apply must be a function`);
  for (const k of ['setup', 'teardown'] as const) {
    if (p[k] !== undefined && typeof p[k] !== 'function') throw new ValidationError(`projection ${p.name}: ${k} must be a function`);
  }
  if (p.storages !== undefined) {
    const kinds = ['memory', 'sqlite', 'postgres', 'redis'];
    if (!Array.isArray(p.storages) || p.storages.length === 0 || !p.storages.every((s) => kinds.includes(s))) {
      throw new ValidationError(`projection ${p.name}: storages must be a non-empty array of ${kinds.join(', ')}`);
    }
  }
  const handles = p.handles === '*' ? '*' : Object.freeze([...p.handles!]);
  return Object.freeze({ ...(p as Projection<C>), handles, ...(p.storages ? { storages: Object.freeze([...p.storages]) } : {}) });
}

/** True when the projection folds events of this type. */
export function handlesType(p: Pick<Projection, 'handles'>, type: string): boolean {
  return p.handles === '*' || p.handles.includes(type);
}
