/**
 * The slice of better-sqlite3's types that dgent uses and exposes (a connection handed to
 * SqliteSnapshotStore, the open transaction given to inline hooks), declared here as kysely's
 * sqlite-dialect-config.ts does. The published declarations then need no `@types/better-sqlite3`
 * (a devDependency): a better-sqlite3 `Database` is assignable to {@link SqliteDatabase}.
 */

/** What `run()` reports. */
export interface SqliteRunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/** A prepared statement (better-sqlite3's `Statement`). */
export interface SqliteStatement<BindParameters extends unknown[] = unknown[], Result = unknown> {
  readonly source: string;
  readonly reader: boolean;
  run(...params: BindParameters): SqliteRunResult;
  get(...params: BindParameters): Result | undefined;
  all(...params: BindParameters): Result[];
  iterate(...params: BindParameters): IterableIterator<Result>;
  pluck(toggleState?: boolean): this;
  raw(toggleState?: boolean): this;
  safeIntegers(toggleState?: boolean): this;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- better-sqlite3 accepts any function
type AnyFunction = (...params: any[]) => unknown;
/** Spelled as better-sqlite3 spells it, so that its `Database` is assignable to ours. */
type ArgumentTypes<F extends AnyFunction> = F extends (...args: infer A) => unknown ? A : never;

/** A function wrapped in a transaction (better-sqlite3's `Transaction`). */
export interface SqliteTransaction<F extends AnyFunction> {
  (...params: ArgumentTypes<F>): ReturnType<F>;
  deferred(...params: ArgumentTypes<F>): ReturnType<F>;
  immediate(...params: ArgumentTypes<F>): ReturnType<F>;
  exclusive(...params: ArgumentTypes<F>): ReturnType<F>;
}

/** An open connection (better-sqlite3's `Database`). */
export interface SqliteDatabase {
  readonly name: string;
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly readonly: boolean;
  readonly memory: boolean;
  prepare<BindParameters extends unknown[] | {} = unknown[], Result = unknown>(
    source: string,
  ): BindParameters extends unknown[] ? SqliteStatement<BindParameters, Result> : SqliteStatement<[BindParameters], Result>;
  transaction<F extends AnyFunction>(fn: F): SqliteTransaction<F>;
  exec(source: string): this;
  pragma(source: string, options?: { simple?: boolean | undefined }): unknown;
  close(): this;
}
