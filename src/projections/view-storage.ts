/**
 * Where views live, as readers see it. A storage holds, per projection, its generations' objects
 * and a control row: the active generation, its version and checkpoint, the generation being
 * rebuilt (if any) and the lease of the async runner.
 *
 * Readers resolve the active generation with `view(name)` and read that generation's objects; the
 * pointer is switched in the same transaction as the rebuilt generation's final checkpoint, so a
 * reader sees either the old complete view or the new complete view. A retired generation is
 * kept until the next rebuild of that projection starts (a reader holding an old `view()` keeps
 * working meanwhile), then dropped.
 *
 * Implementations: MemoryViewStorage, SqliteViewStorage (`dgent`), PostgresViewStorage
 * (`dgent/postgres`), RedisViewStorage (`dgent/redis`).
 */
import { ValidationError } from '../core/errors.js';
import type { StorageKind } from './view-context.js';

/** The active generation of a projection in a storage. */
export interface ActiveGeneration {
  readonly projection: string;
  readonly generation: number;
  /** the projection version it was built with */
  readonly version: number;
  /** checkpoint: the last log position folded into it (0: nothing yet) */
  readonly position: number;
}

/** The reader side every storage offers. */
export interface ViewStorage {
  readonly kind: StorageKind;
  /**
   * The active generation of `projection`, or `undefined` when no runner ever set it up here.
   * Cached for at most `generationCacheMs` (default 1000; 0 = always ask the storage); a switch
   * made by a runner of this process updates the cache at once.
   */
  active(projection: string): Promise<ActiveGeneration | undefined>;
  /** close what the storage opened (not connections you passed in); idempotent */
  close(): Promise<void>;
}

/** Object names of one projection generation, shared by storages and readers. */
export const NAME_PREFIX = 'dgent_p';

const LOCAL = /^[a-z][a-z0-9_]{0,15}$/;

/** Check a local object name (see SqliteViewContext.table); returns it. */
export function checkLocalName(local: string): string {
  if (typeof local !== 'string' || !LOCAL.test(local)) {
    throw new ValidationError(`view object name must match ${String(LOCAL)}, got ${JSON.stringify(local)}`);
  }
  return local;
}

/**
 * The bare (unquoted) SQL name of `local` in `generation`: `dgent_p_<projection>__g<generation>_<local>`
 * (<= 63 characters; projection names never contain `__`, so the generation is unambiguous).
 */
export function generationTableName(projection: string, generation: number, local: string): string {
  return `${NAME_PREFIX}_${projection}__g${generation}_${checkLocalName(local)}`;
}

/** The generation a table of `projection` belongs to, or undefined when the name is not one of its tables. */
export function generationOfTable(projection: string, table: string): number | undefined {
  const head = `${NAME_PREFIX}_${projection}__g`;
  if (!table.startsWith(head)) return undefined;
  const m = /^(\d+)_/.exec(table.slice(head.length));
  return m ? Number(m[1]) : undefined;
}

/**
 * The Redis key of `local` in `generation`: `<prefix>:p:{<projection>}:g<generation>:<local>`.
 * The hash tag keeps every key of a projection in one cluster slot (the commit script touches them together).
 */
export function generationKey(prefix: string, projection: string, generation: number, local: string): string {
  return `${prefix}:p:{${projection}}:g${generation}:${checkLocalName(local)}`;
}
