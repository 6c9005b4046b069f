/**
 * SQLAgent: one agent's versions as rows of a SQL table (SQLite via better-sqlite3, PostgreSQL via
 * pg), through kysely. Every save inserts a new row `(agent_id, version + 1)` in one statement;
 * the primary key makes optimistic concurrency a database guarantee, across processes and hosts.
 *
 * @example
 * ```ts
 * const agent = new SQLAgent<{ turns: string[] }>({ path: './agents.db', id: 'support-bot', initial: { turns: [] } });
 * await agent.update((s) => { s.turns.push('hello'); });
 * const pg = new SQLAgent<{ turns: string[] }>({ connectionString: 'postgres://localhost/app', id: 'support-bot' });
 * ```
 */
import { decode, encode, prepare } from '../core/codec.js';
import { BackendUnavailableError, ConcurrencyError, CorruptionError, DgentError, ValidationError, shown } from '../core/errors.js';
import { toMs } from '../core/ids.js';
import { latestSchemaVersion, migrate, validateWith, type Migrations, type StandardSchemaV1 } from '../core/schema.js';
import { CompiledQuery } from 'kysely';
import { frozen, type Frozen } from '../core/frozen.js';
import { validateFilters, type ValueFilter } from '../projections/views/filter.js';
import type { HistoryOptions, LoadAtTarget } from './data-agent.js';
import { historyWindow, type HistoryWindow } from './history-window.js';
import { countHistorySql, matchesState, selectHistorySql, toStateRow, type HistorySql, type HistorySqlRequest } from './sql/history-query.js';
import { VersionedAgent, type Snapshot, type VersionedAgentOptions } from './versioned-agent.js';
import { configurationRejection, pgConnectFailure } from '../streams/postgres/errors.js';
import { checkPoolOptions, connect, type SqlConnection, type SqlConnectionOptions, type SqlDialectName } from './sql/connect.js';
import { checkAgentId, checkTableName, classifySqlError, ensureTable, insertNext, isWriteConflict, prune, selectAt, selectCurrent, selectHistory, selectVersion, type StateRow } from './sql/statements.js';

/** Options of {@link SQLAgent}. Exactly one of `db`, `connectionString`, `path`. */
export interface SQLAgentOptions<S> extends VersionedAgentOptions<S>, SqlConnectionOptions {
  /** The agent's id: its rows are keyed by it (bound as a value, any string without NUL). */
  id: string;
  /** Table name (default `dgent_agent_states`), a plain identifier; created if missing. */
  table?: string | undefined;
  /** Versions kept for history/loadAt (default 1000; Infinity keeps all). Older rows are pruned in batches. */
  retention?: number | undefined;
  /** Standard Schema validator applied on save and load. */
  schema?: StandardSchemaV1<unknown, S> | undefined;
  /** Numbered migrations applied on read. */
  migrations?: Migrations | undefined;
}

interface Decoded<S> {
  version: number;
  snap: Snapshot<S>;
  binary: boolean;
}

/** SQL-backed agent over SQLite or PostgreSQL. */
export class SQLAgent<S> extends VersionedAgent<S> {
  readonly id: string;
  readonly table: string;
  private readonly options: SQLAgentOptions<S>;
  private readonly retention: number;
  private readonly schemaVersion: number;
  private conn: Promise<SqlConnection> | undefined;
  private cache: Decoded<S> | undefined;

  constructor(options: SQLAgentOptions<S>) {
    super(options);
    this.options = options;
    this.id = checkAgentId(options.id);
    this.table = checkTableName(options.table ?? 'dgent_agent_states');
    const r = options.retention ?? 1000;
    if (!(r === Infinity || (Number.isInteger(r) && r >= 1))) throw new ValidationError(`retention must be an integer >= 1 or Infinity, got ${shown(r)}`);
    this.retention = r;
    this.schemaVersion = latestSchemaVersion(options.migrations);
    const given = [options.db, options.connectionString, options.path].filter((x) => x !== undefined).length;
    if (given !== 1) throw new ValidationError('SQLAgent needs exactly one of db, connectionString or path');
    checkPoolOptions(options);
  }

  protected override describe(): string {
    return `SQLAgent(${this.table}:${this.id})`;
  }

  /** The dialect in use (connects if needed). */
  async dialect(): Promise<SqlDialectName> {
    return (await this.connection()).dialect;
  }

  private connection(): Promise<SqlConnection> {
    this.conn ??= (async () => {
      const c = await connect(this.options);
      try {
        await ensureTable(c.db, c.dialect, this.table);
      } catch (e) {
        await c.destroy().catch(() => undefined); // the creation error is the one to report
        throw e;
      }
      return c;
    })().catch((e: unknown) => {
      this.conn = undefined; // let a later call retry once the database is back
      throw this.wrap(e);
    });
    return this.conn;
  }

  /** Run a database call, mapping driver failures to BackendUnavailableError. */
  private async run<T>(fn: (c: SqlConnection) => Promise<T>, unmapped = false): Promise<T> {
    const c = await this.connection();
    try {
      return await fn(c);
    } catch (e) {
      throw unmapped ? e : this.wrap(e); // unmapped: the caller maps what it does not handle itself
    }
  }

  /**
   * Map a driver error: a table of another shape or a damaged database is CorruptionError (nothing
   * is changed), a database that cannot be reached or is busy is BackendUnavailableError, anything
   * else DgentError with the driver's error as its cause.
   */
  private wrap(e: unknown): unknown {
    if (e instanceof DgentError) return e;
    const refused = configurationRejection(e, this.describe());
    if (refused) return refused;
    const backend = this.options.path !== undefined ? 'SQLite' : this.options.connectionString !== undefined ? 'PostgreSQL' : 'SQL database';
    const message = (e as Error | undefined)?.message ?? String(e);
    switch (classifySqlError(e)) {
      case 'wrong-table':
        return new CorruptionError(`table ${this.table} exists but is not a dgent agent table (${message}); nothing was changed`, this.describe(), { cause: e });
      case 'damaged':
        return new CorruptionError(`${backend} reports a damaged database: ${message}; nothing was changed`, this.describe(), { cause: e });
      case 'unavailable': {
        // a connection that could not be made: say where, and what answered (or did not)
        const o = this.options;
        const plain = o.connectionString === undefined ? undefined : pgConnectFailure(e, { options: { connectionString: o.connectionString, connectionTimeoutMillis: o.connectTimeoutMs ?? 10_000 } }, false);
        return new BackendUnavailableError(backend, plain ?? message, { cause: e });
      }
      default:
        return new DgentError(`${backend} error in ${this.describe()}: ${message}`, 'DGENT_ERROR', { cause: e });
    }
  }

  private materialise(row: StateRow): Decoded<S> {
    if (this.cache && this.cache.version === row.version) return this.cache;
    const where = `${this.describe()} version ${row.version}`;
    let state: unknown = decode(row.state, where);
    if (row.schema_version !== this.schemaVersion) state = migrate(state, row.schema_version, this.options.migrations);
    if (this.options.schema) state = validateWith(this.options.schema, state, where);
    const p = prepare(state as S);
    return { version: row.version, snap: { state: p.value, version: row.version, time: new Date(row.time) }, binary: p.hasBinary };
  }

  private out(d: Decoded<S>): Snapshot<S> {
    return d.binary ? { ...d.snap, state: prepare(d.snap.state).value } : d.snap;
  }

  protected async current(): Promise<Snapshot<S> | undefined> {
    const row = await this.run((c) => selectCurrent(c.db, this.table, this.id, c));
    if (!row) return undefined;
    // versions are never rewritten, so the newest decoded row can be reused as is
    this.cache = this.materialise(row);
    return this.out(this.cache);
  }

  protected async write(state: S, expectedVersion: number | undefined): Promise<Snapshot<S>> {
    const value = this.options.schema ? prepare(validateWith(this.options.schema, state)).value : state;
    const text = encode(value);
    for (let attempt = 0; ; attempt++) {
      const time = Date.now();
      let version: number | undefined;
      try {
        version = await this.run((c) => insertNext(c.db, this.table, this.id, expectedVersion, text, time, this.schemaVersion, c), true);
      } catch (e) {
        if (!isWriteConflict(e)) throw this.wrap(e);
        // Another writer inserted the same version first, or (serialization failure, deadlock)
        // the server failed this write in a race. An unconditional save takes the next version; a
        // conditional one is a conflict unless the version is still the expected one.
        if (expectedVersion !== undefined || attempt >= 20) {
          const actual = await this.run((c) => selectVersion(c.db, this.table, this.id));
          if (actual !== expectedVersion || attempt >= 20) throw new ConcurrencyError(expectedVersion ?? 'any', actual, this.describe());
        }
        continue;
      }
      if (version === undefined) {
        const actual = await this.run((c) => selectVersion(c.db, this.table, this.id));
        throw new ConcurrencyError(expectedVersion!, actual, this.describe());
      }
      if (this.retention !== Infinity && version > this.retention && version % this.pruneEvery() === 0) {
        await this.run((c) => prune(c.db, this.table, this.id, version! - this.retention));
      }
      const p = prepare(value);
      this.cache = { version, snap: { state: p.value, version, time: new Date(time) }, binary: p.hasBinary };
      return this.out(this.cache);
    }
  }

  /** Prune in batches, not on every save. */
  private pruneEvery(): number {
    return Math.max(1, Math.min(64, Math.floor(this.retention / 2)));
  }

  protected async readHistory(limit: number): Promise<Snapshot<S>[]> {
    const rows = await this.run((c) => selectHistory(c.db, this.table, this.id, Math.min(limit, this.retention)));
    return rows.map((r) => this.out(this.materialise(r)));
  }

  protected async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    const floor = this.retention === Infinity ? 0 : Math.max(0, (await this.run((c) => selectVersion(c.db, this.table, this.id))) - this.retention);
    const t = 'version' in target ? { version: target.version } : { time: toMs(target.time) };
    const row = await this.run((c) => selectAt(c.db, this.table, this.id, t, floor));
    return row ? this.out(this.materialise(row)) : undefined;
  }

  protected override async readHistoryWindow(w: HistoryWindow): Promise<Snapshot<S>[]> {
    return this.selectHistory(w, []);
  }

  /**
   * Saved states matching value filters (the Store's `query` filters: eq, ne, gt, gte, lt, lte, in,
   * contains, startsWith, endsWith on dotted state paths), newest first, in an optional window
   * `{ since, until, limit }`. The filters and the window run in the database (`json_extract` on
   * SQLite, `jsonb` on PostgreSQL); only states SQL cannot judge exactly (see
   * `sql/history-query.ts`: older schema versions, NUL strings, tagged values on the path) are
   * decoded and judged in process. An unknown operator or a bad path is a ValidationError. The
   * agent's rows in the window are read through the primary key (agent_id, version) and filtered
   * there: no index on state fields is needed, and the cost grows with the rows in the window.
   *
   * @example
   * ```ts
   * const agent = new SQLAgent<{ step: number; status: string }>({ path: ':memory:', id: 'run-7' });
   * const failures = await agent.queryHistory({ path: 'status', op: 'eq', value: 'error' }, { since: '2026-01-01', limit: 10 });
   * const slow = await agent.countHistory([{ path: 'step', op: 'gte', value: 3 }]);
   * ```
   */
  async queryHistory(filter: ValueFilter | readonly ValueFilter[], options?: HistoryOptions): Promise<Frozen<S>[]> {
    this.assertOpen();
    const filters = validateFilters(filter);
    const w = historyWindow(options);
    if (w.limit === 0) return [];
    return (await this.selectHistory(w, filters)).map((s) => frozen(s.state));
  }

  /** How many saved states match the filters (all when none), in an optional window `{ since, until }`; counted in the database. */
  async countHistory(filter?: ValueFilter | readonly ValueFilter[], options?: Pick<HistoryOptions, 'since' | 'until'>): Promise<number> {
    this.assertOpen();
    const filters = validateFilters(filter);
    if (typeof options === 'object' && options !== null && 'limit' in options) throw new ValidationError('countHistory counts the whole window: it takes since and until, not limit');
    const w = historyWindow(options);
    const rows = await this.historyRows((dialect) => countHistorySql({ ...this.historyRequest(w, filters), dialect }));
    let n = 0;
    for (const r of rows) {
      if (Number(r.kind) === 1) n += Number(r.n);
      else if (matchesState(this.out(this.materialise(toStateRow(r))).state, filters)) n++;
    }
    return n;
  }

  private historyRequest(w: Pick<HistoryWindow, 'since' | 'until'>, filters: readonly ValueFilter[]): Omit<HistorySqlRequest, 'dialect'> {
    return { table: this.table, id: this.id, retention: this.retention, schemaVersion: this.schemaVersion, filters, since: w.since, until: w.until };
  }

  /** Page through the window newest first until `w.limit` states match (rows judged in process may not). */
  private async selectHistory(w: HistoryWindow, filters: readonly ValueFilter[]): Promise<Snapshot<S>[]> {
    const out: Snapshot<S>[] = [];
    const all = w.limit >= Number.MAX_SAFE_INTEGER;
    let before: number | undefined;
    for (;;) {
      const limit = all ? undefined : w.limit - out.length;
      const rows = await this.historyRows((dialect) => selectHistorySql({ ...this.historyRequest(w, filters), before, limit, dialect }));
      for (const r of rows) {
        const snap = this.out(this.materialise(toStateRow(r)));
        if (r.exact === true || r.exact === 1 || filters.length === 0 || matchesState(snap.state, filters)) out.push(snap);
      }
      if (limit === undefined || rows.length < limit || out.length >= w.limit) return out;
      before = Number(rows[rows.length - 1]!.version);
    }
  }

  /** Run a history statement; JSON the database cannot parse is a damaged row (CorruptionError), as history() reports it. */
  private async historyRows(statement: (dialect: SqlDialectName) => HistorySql): Promise<Record<string, unknown>[]> {
    return this.run(async (c) => {
      const { sql, params } = statement(c.dialect);
      try {
        return (await c.db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(sql, params))).rows;
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if (code === '22P02' || code === '22032' || /malformed JSON/i.test((e as Error).message ?? '')) {
          throw new CorruptionError(`a stored state of ${this.describe()} is not valid JSON: ${(e as Error).message}`, this.describe(), { cause: e });
        }
        throw this.wrap(e);
      }
    });
  }

  override async close(): Promise<void> {
    await super.close();
    const c = this.conn;
    this.conn = undefined;
    // a connection that never opened has nothing to release; its error went to the caller then
    if (c) await (await c.catch(() => undefined))?.destroy();
  }
}
