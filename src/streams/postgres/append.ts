/**
 * Group commit: appends that arrive while a batch is in flight are sent together as the next batch,
 * in one call of the append function (one round trip, one transaction, one WAL flush). Each append
 * keeps its own expected-revision and event-id checks, so a conflicting one fails alone.
 */
import { decode, encode, prepare } from '../../core/codec.js';
import { ConcurrencyError } from '../../core/errors.js';
import { uuidV7 } from '../../core/uuid-v7.js';
import type { AppendHook, AppendResult, AppendTransaction, ExpectedRevision, NewEvent, RecordedEvent } from '../event-log.js';
import { resolveEventIds, withEventContext, type StoredEventRef } from '../validate.js';
import { appendExactSetSql, appendExactSql, EXPECT_ANY, EXPECT_STREAM_EXISTS, notifyIf, STATUS } from './append-function.js';
import { mapPgError, isUnavailable, type Queryable } from './errors.js';
import { revisionSql } from './read.js';
import { statementName } from './statement-names.js';
import type { SchemaNames } from './schema.js';

/** One stream's events, encoded and ready to send. */
export interface PreparedStreamAppend {
  stream: string;
  expected: ExpectedRevision;
  /** encoded only: hooks get the data decoded from this text, i.e. exactly what is stored */
  events: { id: string; type: string; dataJson: string; metaJson: string }[];
  /** 0: no event carries a caller id, 1: some do, 2: all do */
  explicit: 0 | 1 | 2;
  /** the caller's events (for the duplicate-id rule) */
  input: readonly NewEvent[];
}

/** Encode a validated append through the codec (SerializationError names the bad field). */
export function prepareStreamAppend(stream: string, events: readonly NewEvent[], expected: ExpectedRevision): PreparedStreamAppend {
  let withId = 0;
  const out = withEventContext(stream, events, () =>
    events.map((e) => {
      if (e.id !== undefined) withId++;
    // encode validates (SerializationError with the path) and copies; nothing keeps the caller's objects
    // generated ids are time-ordered (UUID v7): they land at the right edge of the unique id index
      return { id: e.id ?? uuidV7(), type: e.type, dataJson: encode(e.data), metaJson: e.metadata === undefined ? '{}' : encode(e.metadata) };
    }),
  );
  return { stream, expected, events: out, explicit: withId === 0 ? 0 : withId === events.length ? 2 : 1, input: events };
}

/** The transaction handed to PostgreSQL `onAppend` hooks: write views with `query`, in the append's transaction. */
export interface PostgresAppendTransaction extends AppendTransaction {
  /** run a statement in the append's transaction (values are bound, never interpolated) */
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

/**
 * Set by a hook (as `postgresFusion`) that can write its effect of a lone appended event in the
 * append's own statement, as CTEs after `g` (columns rev, pos, ms: one row when the event was
 * stored). See projections/storage/postgres-fused.ts.
 */
export interface PostgresFusionHook {
  /** the CTEs and their values (numbered from `$<base + 1>`), or undefined for the usual path (`input`: the event as given to append) */
  plan(stream: string, event: { id: string; type: string; dataJson: string; metaJson: string }, base: number, input: NewEvent): { ctes: string; values: unknown[]; select?: string } | undefined;
  /** whether an error of the fused statement means its plan was stale (nothing was stored; the append is redone the usual way) */
  stale(e: unknown): boolean;
  /** the fused statement (`plan`) committed; `stored`: it stored the event */
  done(plan: object, stored: boolean): void;
}

/** What a batch needs from the log. */
export interface BatchContext {
  names: SchemaNames;
  /** run `fn` with one connection (hooks need BEGIN ... COMMIT on the same connection) */
  withClient<T>(fn: (client: Queryable) => Promise<T>): Promise<T>;
  pool: Queryable;
  hooks: readonly AppendHook<PostgresAppendTransaction>[];
  /** the log's NOTIFY: which statements carry it, and what committed (see Notifier) */
  notify: {
    /** whether the statement about to be sent carries the NOTIFY: its start time if so */
    carry(): number | undefined;
    /** a statement committed; `stored`: it stored events; `carriedAt`: what carry() gave it */
    committed(stored: boolean, carriedAt: number | undefined): void;
  };
}

interface Item {
  appends: PreparedStreamAppend[];
  atomic: boolean;
  resolve(results: AppendResult[]): void;
  reject(e: unknown): void;
}

/** Thrown by a hook: passed to the caller as is (it is the caller's error, not the driver's). */
class HookFailure {
  constructor(readonly error: unknown) {}
}

function encodeExpected(e: ExpectedRevision): number {
  if (e === 'any') return EXPECT_ANY;
  if (e === 'stream_exists') return EXPECT_STREAM_EXISTS;
  if (e === 'no_stream') return 0;
  return Math.min(e, 2147483647);
}

/** The group-commit queue of one log. */
export class AppendQueue {
  private pending: Item[] = [];
  private inFlight = 0;
  private idle: (() => void)[] = [];
  private scheduled = false;
  private exactSql: string | undefined;
  private exactSetSql: string | undefined;
  /** fused statements (text and prepared name) per CTE text of the fusion plan */
  private readonly fusedTexts = new Map<string, { text: string; name: string }>();

  constructor(
    private readonly ctx: BatchContext,
    private readonly maxInFlight: number,
    private readonly maxBatch: number,
  ) {}

  /** Queue appends; `atomic` ones (appendMany) go alone and all-or-nothing. */
  submit(appends: PreparedStreamAppend[], atomic: boolean): Promise<AppendResult[]> {
    return new Promise((resolve, reject) => {
      this.pending.push({ appends, atomic, resolve, reject });
      // an idle queue sends at once (a lone writer pays no delay); otherwise wait one turn of the
      // event loop: callers woken by the previous batch resubmit across several microtasks, and
      // they should all ride in the same next batch
      if (this.inFlight === 0 && !this.scheduled) this.pump();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.pump();
        });
      }
    });
  }

  /**
   * One append of one caller. The commonest call of an agent, one event at the revision it knows,
   * goes straight to its statement when nothing else is queued or in flight (and no hooks are
   * registered): no queue item, no batch bookkeeping. It still counts as in flight, so appends
   * arriving meanwhile queue behind it and ride together in the next batch; the slot is given back
   * before the caller resumes, so a lone sequential writer always finds the queue idle.
   */
  async one(a: PreparedStreamAppend): Promise<AppendResult> {
    if (this.inFlight !== 0 || this.scheduled || this.ctx.hooks.length !== 0 || !exactSingle(a)) return (await this.submit([a], false))[0]!;
    this.inFlight++;
    let row: Row;
    try {
      row = await this.appendExact(a);
    } catch (e) {
      // generated ids: no duplicate-id retry applies (the run() path's 23505 rule); the statement's failure is the caller's
      this.release();
      throw mapPgError(e, 'appending');
    }
    this.release();
    return resultOf(a, row);
  }

  /** A batch or a direct append is done: send what queued up meanwhile, or report the queue idle. */
  private release(): void {
    this.inFlight--;
    this.pump();
    if (this.inFlight === 0 && this.pending.length === 0) for (const r of this.idle.splice(0)) r();
  }

  /** Resolves when nothing is queued or in flight. */
  drained(): Promise<void> {
    if (this.inFlight === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.pending.length > 0) {
      let take = 1;
      if (!this.pending[0]!.atomic) {
        while (take < this.pending.length && take < this.maxBatch && !this.pending[take]!.atomic) take++;
      }
      const batch = this.pending.splice(0, take);
      this.inFlight++;
      void this.run(batch).finally(() => this.release());
    }
  }

  private async run(batch: Item[], attempt = 0): Promise<void> {
    try {
      this.settle(batch, await this.execute(batch));
    } catch (e) {
      if (e instanceof HookFailure && batch.length === 1) return batch[0]!.reject(e.error);
      if (e instanceof HookFailure || (batch.length > 1 && !isUnavailable(e))) {
        // someone's hook or a duplicate id inside the batch failed the shared transaction: run each alone so only the culprit fails
        for (const item of batch) await this.run([item]);
        return;
      }
      if (batch.length === 1 && (e as { code?: string }).code === '23505' && attempt < 3) {
        // a concurrent writer stored one of our event ids first: the id check now sees it
        return this.run(batch, attempt + 1);
      }
      const err = mapPgError(e, 'appending');
      for (const item of batch) item.reject(err);
    }
  }

  /** The batch function's parameters. */
  private batchValues(flat: PreparedStreamAppend[], batch: Item[]): unknown[] {
    return [
      flat.map((a) => a.stream),
      flat.map((a) => encodeExpected(a.expected)),
      flat.map((a) => a.events.length),
      flat.map((a) => a.explicit),
      flat.flatMap((a) => a.events.map((e) => e.id)),
      flat.flatMap((a) => a.events.map((e) => e.type)),
      `[${flat.map((a) => a.events.map(payloadOf).join(',')).join(',')}]`,
      batch.length === 1 && batch[0]!.atomic,
    ];
  }

  /** Send one batch; returns the function's rows, one per stream append in batch order. */
  private async execute(batch: Item[]): Promise<Row[]> {
    const flat = batch.flatMap((i) => i.appends);
    const n = this.ctx.names;
    const one = flat.length === 1 && flat[0]!.explicit === 0 ? flat[0]! : undefined;
    const short = this.ctx.hooks.length === 0; // without hooks nothing needs the time: fewer columns to parse
    let decode: (res: { rows: any[] }) => Row[] = (res) => res.rows as Row[];
    let query: { name: string; text: string; values: unknown[]; rowMode?: 'array' };
    // the commonest call of an agent, one event at the revision it knows: one plain INSERT
    if (short && one && exactSingle(one)) return [await this.appendExact(one)];
    if (short && !one && setBased(flat, batch) && flat.every(exactSingle)) return this.appendExactSet(flat);
    // every function call carries the NOTIFY when the Notifier says so: a boolean as the last parameter
    const carriedAt = this.ctx.notify.carry();
    const carry = carriedAt !== undefined;
    if (one && one.events.length === 1 && this.ctx.hooks.length === 1) {
      // one event and one hook that can fuse: one statement, no BEGIN ... COMMIT (see PostgresFusionHook)
      const fusion = (this.ctx.hooks[0] as { postgresFusion?: PostgresFusionHook }).postgresFusion;
      const e = one.events[0]!;
      const plan = fusion?.plan(one.stream, e, 7, one.input[0]!);
      if (plan) {
        // one text and name per CTE text (plan reuses its strings, so the lookup hashes nothing new;
        // a plan's extra `select` is the same for the same CTE text)
        let stmt = this.fusedTexts.get(plan.ctes);
        if (stmt === undefined) {
          const text = `WITH ev AS MATERIALIZED (SELECT ${n.fnEvent}($1, $2, $3, $4, $5, $6) AS r),
g AS MATERIALIZED (SELECT r[2] AS rev, r[3] AS pos, r[4] AS ms FROM ev WHERE r[1] = ${STATUS.appended}),
${plan.ctes}
SELECT (SELECT r FROM ev), ${notifyIf('$7', n)}${plan.select === undefined ? '' : `, ${plan.select}`}`;
          if (this.fusedTexts.size >= 256) this.fusedTexts.clear();
          this.fusedTexts.set(plan.ctes, (stmt = { text, name: statementName(`${n.channel}_fu`, text) }));
        }
        const { text } = stmt;
        try {
          const res = await this.ctx.pool.query({ name: stmt.name, text, values: [one.stream, encodeExpected(one.expected), e.id, e.type, e.dataJson, e.metaJson, carry, ...plan.values], rowMode: 'array' } as never);
          const rows = [eventRow((res as { rows: any[][] }).rows[0]![0])];
          fusion!.done(plan, rows[0]!.status === STATUS.appended);
          this.committed(rows, carriedAt);
          return rows;
        } catch (err) {
          if (!fusion!.stale(err)) throw err;
          // nothing was stored: the usual path below (which learns the views' new generations)
        }
      }
    }
    if (one && one.events.length === 1) {
      // one event with a generated id otherwise ('any', 'stream_exists', or with hooks): scalar arguments, the leanest function
      const e = one.events[0]!;
      query = {
        name: `${n.channel}_append_event`,
        text: `SELECT ${n.fnEvent}($1, $2, $3, $4, $5, $6), ${notifyIf('$7', n)}`,
        values: [one.stream, encodeExpected(one.expected), e.id, e.type, e.dataJson, e.metaJson, carry],
        rowMode: 'array',
      };
      decode = (res) => [eventRow(res.rows[0][0])];
    } else if (one) {
      // one stream and generated ids: a leaner function than the batch one, with the same result row
      const columns = short ? 'status, revision, pos' : 'status, revision, pos, info, at';
      query = {
        name: `${n.channel}_append_one${short ? '_short' : ''}`,
        text: `SELECT ${columns}, ${notifyIf('$6', n)} FROM ${n.fnOne}($1, $2, $3, $4, $5)`,
        values: [one.stream, encodeExpected(one.expected), one.events.map((e) => e.id), one.events.map((e) => e.type), `[${one.events.map(payloadOf).join(',')}]`, carry],
      };
    } else if (setBased(flat, batch)) {
      // independent appends (distinct streams, generated ids): one set-based statement instead of a
      // per-append loop, returning one {status, revision, position} array per append
      query = {
        name: `${n.channel}_append_set_array${short ? '_short' : ''}`,
        text: `SELECT ${n.fnSetArray}($1, $2, $3, $4, $5, $6)${short ? '' : ', now()'}, ${notifyIf('$7', n)}`,
        values: [...this.batchValues(flat, batch).filter((_, i) => i !== 3 && i !== 7), carry],
        rowMode: 'array',
      };
      decode = (res) => {
        const [results, second] = res.rows[0] as [(string | null)[][], unknown];
        const at = short ? undefined : (second as Date); // the short form's second column is the NOTIFY's
        return results.map(([st, rv, ps]) => ({ status: Number(st), revision: Number(rv), pos: ps ?? null, info: null, at: at as Date }));
      };
    } else {
      query = {
        name: `${n.channel}_append`,
        text: `SELECT status, revision, pos, info, at, ${notifyIf('$9', n)} FROM ${n.fn}($1, $2, $3, $4, $5, $6, $7, $8)`,
        values: [...this.batchValues(flat, batch), carry],
      };
    }
    if (short) {
      const rows = decode(await this.ctx.pool.query(query));
      this.committed(rows, carriedAt);
      return rows;
    }
    return this.ctx.withClient(async (client) => {
      await client.query('BEGIN');
      const commits: (() => void)[] = [];
      const rollbacks: (() => void)[] = [];
      const failuresOfRollback: unknown[] = [];
      try {
        const rows = decode(await client.query(query));
        const tx: PostgresAppendTransaction = {
          onCommit: (fn) => void commits.push(fn),
          onRollback: (fn) => void rollbacks.push(fn),
          query: (sql, v) => client.query(sql, v),
        };
        let r = 0;
        for (const item of batch) {
          const recorded: RecordedEvent[] = [];
          for (const a of item.appends) {
            const row = rows[r++]!;
            if (row.status === STATUS.appended) recorded.push(...recordedOf(a, row));
          }
          if (recorded.length === 0 || (item.atomic && recorded.length !== item.appends.reduce((s, a) => s + a.events.length, 0))) continue;
          const frozen = Object.freeze(recorded);
          try {
            for (const hook of [...this.ctx.hooks]) await hook(frozen, tx);
          } catch (e) {
            throw new HookFailure(e);
          }
        }
        await client.query('COMMIT');
        this.committed(rows, carriedAt);
        for (const fn of commits) {
          try {
            fn();
          } catch (e) {
            queueMicrotask(() => {
              throw e; // the append is stored: report the callback's failure without failing the append
            });
          }
        }
        return rows;
      } catch (e) {
        // a failed ROLLBACK surfaces from withClient's release (the connection is destroyed); the append's own error wins
        if (!isUnavailable(e)) await client.query('ROLLBACK').catch((r: unknown) => void failuresOfRollback.push(r));
        const failures: unknown[] = [...failuresOfRollback];
        for (const fn of rollbacks.reverse()) {
          try {
            fn();
          } catch (f) {
            failures.push(f);
          }
        }
        if (failures.length > 0) throw new HookFailure(new AggregateError([e instanceof HookFailure ? e.error : e, ...failures], 'append aborted, and an onRollback callback failed too'));
        throw e;
      }
    });
  }

  /** A single event at an exact expected revision, no hooks: one INSERT statement (see appendExactSql). */
  private async appendExact(a: PreparedStreamAppend): Promise<Row> {
    const expected = encodeExpected(a.expected); // a number here ('no_stream' is 0)
    const n = this.ctx.names;
    const e = a.events[0]!;
    const carriedAt = this.ctx.notify.carry();
    const res = await this.ctx.pool.query({ name: `${n.channel}_append_exact`, text: (this.exactSql ??= appendExactSql(n)), values: [a.stream, expected, e.id, e.type, e.dataJson, e.metaJson, carriedAt !== undefined], rowMode: 'array' } as never);
    // without a row the NOTIFY may not have been queued (the revision check comes first): not carried
    this.ctx.notify.committed(res.rows.length === 1, res.rows.length === 1 ? carriedAt : undefined);
    if (res.rows.length === 1) return { status: STATUS.appended, revision: expected + 1, pos: String(res.rows[0][0]), info: null, at: undefined as never };
    // the same prepared statement as PostgresEventLog.revision
    const actual = await this.ctx.pool.query({ name: `${n.channel}_rev`, text: revisionSql(n), values: [a.stream] });
    return { status: STATUS.conflict, revision: actual.rows[0]?.revision ?? 0, pos: null, info: null, at: undefined as never };
  }

  /** A batch of single events at exact revisions (see appendExactSetSql); one row per append, in order. */
  private async appendExactSet(flat: PreparedStreamAppend[]): Promise<Row[]> {
    const n = this.ctx.names;
    const expected = flat.map((a) => encodeExpected(a.expected)); // numbers here ('no_stream' is 0)
    const carriedAt = this.ctx.notify.carry();
    const res = await this.ctx.pool.query({
      name: `${n.channel}_append_exact_set`,
      text: (this.exactSetSql ??= appendExactSetSql(n)),
      values: [`[${flat.map((a, i) => `{"s":${JSON.stringify(a.stream)},"x":${expected[i]},"i":${JSON.stringify(a.events[0]!.id)},"t":${JSON.stringify(a.events[0]!.type)},${jsonField('d', a.events[0]!.dataJson)},${jsonField('m', a.events[0]!.metaJson)}}`).join(',')}]`, flat.length, carriedAt !== undefined],
      rowMode: 'array',
    } as never);
    // the NOTIFY is queued with each stored row: carried only when something was stored
    this.ctx.notify.committed(res.rows.length > 0, res.rows.length > 0 ? carriedAt : undefined);
    const stored = new Map<string, string>(res.rows.map((r: [string, string]) => [r[0], String(r[1])]));
    let actual: Map<string, number> | undefined;
    if (stored.size < flat.length) {
      const lost = flat.filter((a) => !stored.has(a.stream)).map((a) => a.stream);
      const revs = await this.ctx.pool.query({
        name: `${n.channel}_revisions_of`,
        text: `SELECT u.s, coalesce((SELECT e.revision FROM ${n.events} e WHERE e.stream = u.s ORDER BY e.revision DESC LIMIT 1), 0) AS r FROM unnest($1::text[]) u(s)`,
        values: [lost],
        rowMode: 'array',
      } as never);
      actual = new Map(revs.rows.map((r: [string, number]) => [r[0], Number(r[1])]));
    }
    return flat.map((a, i) => {
      const pos = stored.get(a.stream);
      return pos !== undefined
        ? { status: STATUS.appended, revision: expected[i]! + 1, pos, info: null, at: undefined as never }
        : { status: STATUS.conflict, revision: actual!.get(a.stream) ?? 0, pos: null, info: null, at: undefined as never };
    });
  }

  /** A function call committed: tell the Notifier what it stored and whether it carried the NOTIFY. */
  private committed(rows: Row[], carriedAt: number | undefined): void {
    this.ctx.notify.committed(rows.some((row) => row.status === STATUS.appended), carriedAt);
  }

  private settle(batch: Item[], rows: Row[]): void {
    let r = 0;
    for (const item of batch) {
      const results: AppendResult[] = [];
      let failure: unknown;
      for (const a of item.appends) {
        const row = rows[r++]!;
        try {
          results.push(resultOf(a, row));
        } catch (e) {
          failure ??= e;
        }
      }
      if (failure !== undefined) item.reject(failure);
      else item.resolve(results);
    }
  }
}

/** One event as the batch functions take it: an element of their json payload array. */
function payloadOf(e: PreparedStreamAppend['events'][number]): string {
  return `{${jsonField('d', e.dataJson)},${jsonField('m', e.metaJson)}}`;
}

/**
 * A JSON escape PostgreSQL's JSON functions cannot turn into text: U+0000 or a surrogate (a lone
 * one fails; a pair is matched too, harmlessly). The json type itself stores both as written.
 */
const UNPROCESSABLE_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

/**
 * Field `name` of a payload element holding the codec text `json`. The batch statements read their
 * payload with json_to_recordset / json_array_elements, which de-escape every string of the whole
 * document and fail on such an escape (the batch failed with "unsupported Unicode escape
 * sequence"). A text holding one travels as a JSON string in field `<name>x` instead, which the
 * statements cast back to json (json_in keeps the escape as written): the same stored row.
 */
function jsonField(name: 'd' | 'm', json: string): string {
  return UNPROCESSABLE_ESCAPE.test(json) ? `"${name}x":${JSON.stringify(json)}` : `"${name}":${json}`;
}

/** One event at an exact expected revision the single-statement paths can take (see appendExactSql). */
function exactSingle(a: PreparedStreamAppend): boolean {
  return a.events.length === 1 && a.explicit === 0 && (a.expected === 'no_stream' || (typeof a.expected === 'number' && a.expected < 2147483647));
}

/** Whether a batch's appends are independent of each other: no all-or-nothing, no caller ids, no stream twice. */
function setBased(flat: PreparedStreamAppend[], batch: Item[]): boolean {
  if (batch.some((i) => i.atomic) || flat.some((a) => a.explicit !== 0)) return false;
  return new Set(flat.map((a) => a.stream)).size === flat.length;
}

/** The single-event function's bigint array ({status, revision, position, epoch ms}, text from pg) as a result row. */
function eventRow(a: string[]): Row {
  return { status: Number(a[0]), revision: Number(a[1]), pos: a[2] ?? null, info: null, at: a[3] === undefined ? (undefined as never) : new Date(Number(a[3])) };
}

interface Row {
  status: number;
  revision: number;
  pos: string | null;
  info: (StoredEventRef & { id: string })[] | null;
  at: Date;
}

function resultOf(a: PreparedStreamAppend, row: Row): AppendResult {
  switch (row.status) {
    case STATUS.appended:
    case STATUS.retry:
      return { revision: row.revision, position: Number(row.pos) };
    case STATUS.conflict:
      throw new ConcurrencyError(a.expected, row.revision, `stream ${JSON.stringify(a.stream)}`);
    default: {
      const refs = new Map((row.info ?? []).map((x) => [x.id, { stream: x.stream, revision: x.revision, position: Number(x.position) }]));
      const retry = resolveEventIds(a.stream, a.input, (id) => refs.get(id));
      if (retry) return retry; // unreachable in practice: the function already recognised retries
      throw new Error('duplicate event id reported without a stored row'); // function and rule disagree: a bug, not a user error
    }
  }
}

function recordedOf(a: PreparedStreamAppend, row: Row): RecordedEvent[] {
  const first = Number(row.pos) - a.events.length + 1;
  const firstRevision = row.revision - a.events.length + 1;
  const time = prepare(row.at).value;
  return a.events.map((e, i) =>
    Object.freeze({ id: e.id, stream: a.stream, revision: firstRevision + i, position: first + i, type: e.type, data: decode(e.dataJson), metadata: decode<Record<string, unknown>>(e.metaJson), time }),
  );
}
