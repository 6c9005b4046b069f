/**
 * PostgresEventLog beyond the shared contract: schema names, concurrent schema creation, group
 * commit, gap safety with a transaction committing out of position order, in-transaction hooks,
 * and connection faults through a TCP proxy.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { BackendUnavailableError, ClosedError, ConcurrencyError, InvalidKeyError, ValidationError } from '../src/core/errors.js';
import { sleep } from '../src/core/mutex.js';
import { PostgresEventLog, type PostgresEventLogOptions } from '../src/postgres.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { collect, waitFor } from '../src/testing/event-log-support.js';
import { arbitraryExtendedState } from '../src/testing/data-agent-contract.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';
import { reserveQuerySql } from '../src/streams/postgres/append-function.js';
import { SCHEMA_VERSION, schemaNames } from '../src/streams/postgres/schema.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { expectSubscriptionRidesOutOutage } from './support/subscription-outage.js';

const available = await requireService('PostgreSQL', postgresUrl());

describe.skipIf(!available)('PostgresEventLog', () => {
  const schemas: string[] = [];
  const logs: PostgresEventLog[] = [];
  const proxies: TcpProxy[] = [];
  const pools: pg.Pool[] = [];
  const clients: pg.Client[] = [];

  function open(options: Partial<PostgresEventLogOptions> = {}, schema = uniqueSchema('dgp')): PostgresEventLog {
    if (!schemas.includes(schema)) schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema, maxConnections: 4, ...options });
    logs.push(log);
    return log;
  }

  /**
   * LISTEN on `channel` from a client of ours: `at` holds when each NOTIFY arrived; `flush()` sends
   * a marker NOTIFY and waits for it, so every NOTIFY sent before the call has arrived when it returns.
   */
  async function notifications(channel: string): Promise<{ at: number[]; flush(): Promise<void> }> {
    const c = await rawClient();
    const at: number[] = [];
    let markers = 0;
    c.on('notification', (m) => {
      if (m.channel !== channel) return;
      if (m.payload === 'marker') markers++;
      else at.push(performance.now());
    });
    await c.query(`LISTEN "${channel}"`);
    return {
      at,
      async flush() {
        const want = markers + 1;
        await c.query(`NOTIFY "${channel}", 'marker'`);
        await waitFor(() => markers >= want, 10_000, 'our marker notification');
      },
    };
  }

  async function rawClient(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: postgresUrl() });
    await c.connect();
    clients.push(c);
    return c;
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.end();
    for (const l of logs.splice(0)) await l.close();
    for (const p of proxies.splice(0)) await p.close();
    for (const p of pools.splice(0)) await p.end();
  });
  afterAll(async () => {
    await dropSchemas(schemas);
  });

  test.each(['', 'Upper', 'a-b', 'a;drop table x', 'pg_catalog', 'x'.repeat(49), '1abc', 'a"b'])('constructor with schema %j throws InvalidKeyError', (schema) => {
    expect(() => new PostgresEventLog({ connectionString: postgresUrl(), schema })).toThrow(InvalidKeyError);
  });

  test('eight logs starting at once on one new schema all create it safely and share one sequence of positions', async () => {
    const schema = uniqueSchema('dgp');
    const many = Array.from({ length: 8 }, () => open({ maxConnections: 2 }, schema));
    const results = await Promise.all(many.map((l, i) => l.append(`s${i}`, [{ type: 'Born', data: i }])));
    expect(new Set(results.map((r) => r.position)).size).toBe(8);
    expect(await collect(many[0]!.readAll())).toHaveLength(8);
  });

  test('a schema at version 5 (with its streams table) is upgraded by four logs at once; revisions continue from the stored events, the old table is not consulted', async () => {
    const schema = uniqueSchema('dgp');
    const first = open({}, schema);
    await first.append('a', [{ type: 'E', data: 1 }, { type: 'E', data: 2 }, { type: 'E', data: 3 }]);
    const c = await rawClient();
    // what version 5 left: its revision table (here stale on purpose) and its version mark
    await c.query(`CREATE TABLE "${schema}".streams (stream text PRIMARY KEY, revision integer NOT NULL)`);
    await c.query(`INSERT INTO "${schema}".streams VALUES ('a', 99)`);
    await c.query(`UPDATE "${schema}".dgent_meta SET version = 5`);
    const upgraded = Array.from({ length: 4 }, () => open({ maxConnections: 2 }, schema));
    const revs = await Promise.all(upgraded.map((l) => l.revision('a')));
    expect(revs).toEqual([3, 3, 3, 3]);
    expect((await c.query(`SELECT version FROM "${schema}".dgent_meta`)).rows).toEqual([{ version: SCHEMA_VERSION }]);
    expect(await upgraded[0]!.append('a', [{ type: 'E', data: 4 }], { expectedRevision: 3 })).toMatchObject({ revision: 4 });
    const stale = await upgraded[1]!.append('a', [{ type: 'E', data: 5 }], { expectedRevision: 3 }).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConcurrencyError);
    expect((stale as ConcurrencyError).actual).toBe(4);
  });

  test('a schema at a newer version than this code: the first call throws ValidationError and the schema is left as it is', async () => {
    const schema = uniqueSchema('dgp');
    await open({}, schema).append('a', [{ type: 'E', data: 1 }]);
    const c = await rawClient();
    await c.query(`UPDATE "${schema}".dgent_meta SET version = 1000`);
    const older = open({}, schema);
    await expect(older.append('a', [{ type: 'E', data: 2 }])).rejects.toThrow(ValidationError);
    expect((await c.query(`SELECT version FROM "${schema}".dgent_meta`)).rows).toEqual([{ version: 1000 }]);
    expect((await c.query(`SELECT count(*)::int AS n FROM "${schema}".events`)).rows).toEqual([{ n: 1 }]);
  });

  test('concurrent "any" appends to one stream from separate connections: position order is revision order (a stream reads the same in readAll)', async () => {
    const schema = uniqueSchema('dgp');
    const logs = Array.from({ length: 6 }, () => open({ maxConnections: 3 }, schema));
    await logs[0]!.append('warm', [{ type: 'E', data: 0 }]);
    // single events (append_event), several events (append_one) and two streams at once (the batch functions)
    await Promise.all(
      logs.map(async (l, w) => {
        for (let i = 0; i < 40; i++) {
          const events = Array.from({ length: 1 + ((w + i) % 3 === 0 ? 2 : 0) }, (_, k) => ({ type: 'E', data: { w, i, k } }));
          if (i % 5 === 4) await l.appendMany([{ stream: 'hot', events }, { stream: `side-${w}-${i}`, events: [{ type: 'S', data: i }] }]);
          else await Promise.all([l.append('hot', events), l.append('hot', [{ type: 'E', data: { w, i, k: 'b' } }])]);
        }
      }),
    );
    const stream = await collect(logs[0]!.read('hot'));
    expect(stream.map((e) => e.revision)).toEqual(stream.map((_, i) => i + 1));
    for (let i = 1; i < stream.length; i++) expect(stream[i]!.position).toBeGreaterThan(stream[i - 1]!.position);
    const inLog = (await collect(logs[0]!.readAll())).filter((e) => e.stream === 'hot');
    expect(inLog.map((e) => e.revision)).toEqual(stream.map((e) => e.revision));
  });

  test('append_set, the table form kept for processes still running version 7 code, answers as before (rows of status, revision, position, time)', async () => {
    const schema = uniqueSchema('dgp');
    const log = open({}, schema);
    const first = await log.append('x', [{ type: 'E', data: 1 }]);
    const c = await rawClient();
    const res = await c.query(`SELECT status, revision, pos, info, at FROM "${schema}".append_set($1, $2, $3, $4, $5, $6)`, [
      ['x', 'y'],
      [1, 5],
      [2, 1],
      [randomUUID(), randomUUID(), randomUUID()],
      ['E', 'E', 'E'],
      JSON.stringify([{ d: 2, m: {} }, { d: 3, m: { k: 1 } }, { d: 4, m: {} }]),
    ]);
    expect(res.rows.map((r) => [r.status, r.revision, r.pos === null ? null : Number(r.pos), r.info])).toEqual([
      [0, 3, first.position + 2, null],
      [1, 0, null, null],
    ]);
    expect(res.rows[0].at).toBeInstanceOf(Date);
    const x = await collect(log.read('x'));
    expect(x.map((e) => [e.revision, e.position, e.data, e.metadata])).toEqual([
      [1, first.position, 1, {}],
      [2, first.position + 1, 2, {}],
      [3, first.position + 2, 3, { k: 1 }],
    ]);
  });

  test('exact-revision single appends racing from separate pools: one wins each revision, the others get ConcurrencyError with a newer actual revision; revisions gapless, positions in revision order', async () => {
    const schema = uniqueSchema('dgp');
    const logs = Array.from({ length: 5 }, () => open({ maxConnections: 2 }, schema));
    let conflicts = 0;
    await Promise.all(
      logs.map(async (l, w) => {
        for (let done = 0; done < 30; ) {
          const rev = await l.revision('race');
          try {
            await l.append('race', [{ type: 'E', data: { w, done } }], { expectedRevision: rev === 0 ? 'no_stream' : rev });
            done++;
          } catch (e) {
            expect(e).toBeInstanceOf(ConcurrencyError);
            expect((e as ConcurrencyError).actual as number).toBeGreaterThan(rev);
            conflicts++;
          }
        }
      }),
    );
    const stream = await collect(logs[0]!.read('race'));
    expect(stream.map((e) => e.revision)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    for (let i = 1; i < stream.length; i++) expect(stream[i]!.position).toBeGreaterThan(stream[i - 1]!.position);
    expect(conflicts).toBeGreaterThan(0); // the race really happened
  });

  test('the position reservation releases its lock only after setval: the planner cannot reorder them (a setval beside the unlock in WHERE ran after it)', async () => {
    const schema = uniqueSchema('dgp');
    const log = open({}, schema);
    const first = await log.append('s', [{ type: 'E', data: 0 }]);
    const c = await rawClient();
    const names = schemaNames(schema);
    await c.query(`PREPARE reserve_${schema}(int) AS ${reserveQuerySql(names, { count: '$1::int' })}`);
    const plan = (await c.query(`EXPLAIN (VERBOSE) EXECUTE reserve_${schema}(3)`)).rows.map((r) => r['QUERY PLAN'] as string);
    const filter = plan.find((l) => l.includes('Filter:'));
    expect(filter).toContain('pg_advisory_unlock');
    expect(filter).not.toContain('setval');
    const got = Number((await c.query(`EXECUTE reserve_${schema}(3)`)).rows[0].f);
    expect(got).toBe(first.position + 1);
    expect(Number((await c.query(`SELECT nextval('${names.seqText}') AS v`)).rows[0].v)).toBe(first.position + 4);
    expect((await c.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`)).rows[0].n).toBe(0);
  });

  test('multi-event batches from many pools at once: every append gets its own consecutive positions (the reservation is never split by another transaction)', async () => {
    const schema = uniqueSchema('dgp');
    const logs = Array.from({ length: 6 }, () => open({ maxConnections: 4 }, schema));
    await logs[0]!.append('warm', [{ type: 'E', data: 0 }]);
    const results = await Promise.all(
      logs.flatMap((l, w) =>
        Array.from({ length: 8 }, async (_, c) => {
          const out: { stream: string; revision: number; position: number; n: number }[] = [];
          for (let i = 0; i < 15; i++) {
            const stream = `m-${w}-${c}`;
            const n = 1 + ((w + c + i) % 4);
            const r = await l.append(stream, Array.from({ length: n }, (_, k) => ({ type: 'E', data: { w, c, i, k } })));
            out.push({ stream, ...r, n });
          }
          return out;
        }),
      ),
    );
    const all = await collect(logs[0]!.readAll());
    const byPosition = new Map(all.map((e) => [e.position, e]));
    expect(byPosition.size).toBe(all.length);
    for (const r of results.flat()) {
      // the append's n events sit at positions r.position - n + 1 .. r.position, in revision order
      for (let k = 0; k < r.n; k++) {
        const e = byPosition.get(r.position - r.n + 1 + k);
        expect(e?.stream).toBe(r.stream);
        expect(e?.revision).toBe(r.revision - r.n + 1 + k);
      }
    }
  });

  test('the single-event function: every ExpectedRevision form, the actual revision on a conflict, and the time handed to hooks equals the stored time', async () => {
    const log = open({});
    expect(await log.append('one', [{ type: 'E', data: 1 }], { expectedRevision: 'no_stream' })).toMatchObject({ revision: 1 });
    await expect(log.append('one', [{ type: 'E', data: 2 }], { expectedRevision: 'no_stream' })).rejects.toMatchObject({ actual: 1 });
    await expect(log.append('none', [{ type: 'E', data: 2 }], { expectedRevision: 'stream_exists' })).rejects.toMatchObject({ actual: 0 });
    expect(await log.append('one', [{ type: 'E', data: 2 }], { expectedRevision: 'stream_exists' })).toMatchObject({ revision: 2 });
    await expect(log.append('one', [{ type: 'E', data: 3 }], { expectedRevision: 5 })).rejects.toMatchObject({ actual: 2 });
    expect(await log.append('one', [{ type: 'E', data: 3 }], { expectedRevision: 2 })).toMatchObject({ revision: 3 });
    expect(await log.append('one', [{ type: 'E', data: null }], { expectedRevision: 'any' })).toMatchObject({ revision: 4 });
    const seen: RecordedEvent[] = [];
    log.onAppend(async (events) => void seen.push(...events));
    await log.append('one', [{ type: 'E', data: { x: 1 }, metadata: { by: 'me' } }]);
    const stored = await collect(log.read('one'));
    expect(stored.map((e) => e.data)).toEqual([1, 2, 3, null, { x: 1 }]);
    expect(seen).toEqual([stored[4]]);
  });

  test('concurrent appends with one expectedRevision: exactly one wins, every other throws ConcurrencyError with the actual revision', async () => {
    const log = open();
    await log.append('s', [{ type: 'A', data: 0 }]);
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => log.append('s', [{ type: 'B', data: i }], { expectedRevision: 1 })));
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const l of lost) {
      expect(l.reason).toBeInstanceOf(ConcurrencyError);
      expect((l.reason as ConcurrencyError).actual).toBe(2);
    }
    expect(await log.revision('s')).toBe(2);
  });

  test('append from many concurrent callers is group-committed: fewer transactions than appends, revisions gapless', async () => {
    const log = open();
    const n = 64;
    await Promise.all(Array.from({ length: n }, (_, i) => log.append(`g${i % 4}`, [{ type: 'G', data: i }])));
    const c = await rawClient();
    const txs = await c.query(`SELECT count(DISTINCT tx)::int AS n FROM "${log.schema}".events`);
    expect(txs.rows[0].n).toBeLessThan(n / 2);
    for (let s = 0; s < 4; s++) expect((await collect(log.read(`g${s}`))).map((e) => e.revision)).toEqual(Array.from({ length: n / 4 }, (_, i) => i + 1));
  });

  test('appends still waiting for the schema to be created when close() is called reject with ClosedError and store nothing', async () => {
    const log = open();
    const one = log.append('s', [{ type: 'E', data: 1 }], { expectedRevision: 'no_stream' }).catch((e: unknown) => e);
    const many = log.appendMany([{ stream: 't', events: [{ type: 'E', data: 2 }] }]).catch((e: unknown) => e);
    await log.close();
    expect(await one).toBeInstanceOf(ClosedError);
    expect(await many).toBeInstanceOf(ClosedError);
    const other = open({}, log.schema);
    expect(await other.revision('s')).toBe(0);
    expect(await other.revision('t')).toBe(0);
  });

  test('exact-revision appends arriving while a lone one is in flight (sent directly, without the queue) wait and ride together in the next batch', async () => {
    const log = open({ maxBatchesInFlight: 1 });
    await log.append('warm', [{ type: 'W', data: 0 }]);
    const n = 30;
    // the first goes straight to its statement; the other 29 arrive while it is in flight
    const results = await Promise.all(Array.from({ length: n }, (_, i) => log.append(`d${i}`, [{ type: 'D', data: i }], { expectedRevision: 'no_stream' })));
    expect(results.map((r) => r.revision)).toEqual(Array(n).fill(1));
    const c = await rawClient();
    const txs = await c.query(`SELECT count(DISTINCT tx)::int AS n FROM "${log.schema}".events WHERE stream LIKE 'd%'`);
    expect(txs.rows[0].n).toBe(2);
    // and a lone sequential writer afterwards still finds the queue idle: every append is its own transaction, in order
    for (let i = 1; i <= 5; i++) expect(await log.append('d0', [{ type: 'D', data: i }], { expectedRevision: i })).toMatchObject({ revision: i + 1 });
    await expect(log.append('d0', [{ type: 'D', data: 'late' }], { expectedRevision: 3 })).rejects.toMatchObject({ expected: 3, actual: 6 });
  });

  test('hooks get the appended data exactly as stored, for arbitrary values of the codec (Map, Set, Date, BigInt, bytes, -0, ...)', async () => {
    const log = open();
    const seen: RecordedEvent[] = [];
    log.onAppend((events) => void seen.push(...events));
    let round = 0;
    await fc.assert(
      fc.asyncProperty(arbitraryExtendedState(), arbitraryExtendedState(), async (data, meta) => {
        const stream = `h${round++}`;
        seen.length = 0;
        await log.append(stream, [{ type: 'E', data, metadata: { meta } }], { expectedRevision: 'no_stream' });
        const [stored] = await collect(log.read(stream));
        expect(seen).toHaveLength(1);
        expect(seen[0]!.data).toStrictEqual(data);
        expect(seen[0]!.data).toStrictEqual(stored!.data);
        expect(seen[0]!.metadata).toStrictEqual({ meta });
        expect(seen[0]!.metadata).toStrictEqual(stored!.metadata);
        if (typeof data === 'object' && data !== null && !(data instanceof Uint8Array)) expect(Object.isFrozen(seen[0]!.data)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  test('strings holding U+0000 or lone surrogates (escapes PostgreSQL\'s JSON functions cannot process) append through every path, in data and metadata, and read back exactly', async () => {
    // every append path: the single-event function and the exact INSERT, the one-stream function,
    // the batch function (atomic appendMany, caller ids), the set-based function and the exact-set
    // statement (concurrent appends queued behind a blocker), with and without hooks
    const hooked = open({ maxBatchesInFlight: 1 });
    hooked.onAppend(() => undefined);
    const plain = open({ maxBatchesInFlight: 1 });
    const nasty = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.constantFrom('\0', 'a\0b', '\ud800', 'x\udfff', '\\u0000', '\ud83d\ude00', '\0\ud800'),
    );
    const value = fc.oneof(nasty, fc.dictionary(nasty, nasty, { maxKeys: 3, noNullPrototype: true }), fc.array(nasty, { maxLength: 3 }));
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(value, nasty), { minLength: 3, maxLength: 3 }), fc.boolean(), async (vs, withHooks) => {
        const log = withHooks ? hooked : plain;
        const r = `n${round++}`;
        const ev = (i: number) => ({ type: 'E', data: vs[i]![0], metadata: { tag: vs[i]![1] } });
        const wanted = new Map<string, { data: unknown; metadata: unknown }[]>();
        const want = (stream: string, ...is: number[]) => wanted.set(stream, [...(wanted.get(stream) ?? []), ...is.map((i) => ({ data: vs[i]![0], metadata: { tag: vs[i]![1] } }))]);
        await log.append(`${r}-any`, [ev(0)]);
        want(`${r}-any`, 0);
        await log.append(`${r}-exact`, [ev(1)], { expectedRevision: 'no_stream' });
        want(`${r}-exact`, 1);
        await log.append(`${r}-multi`, [ev(0), ev(1), ev(2)]);
        want(`${r}-multi`, 0, 1, 2);
        await log.appendMany([{ stream: `${r}-m1`, events: [ev(2)] }, { stream: `${r}-m2`, events: [{ ...ev(0), id: randomUUID() }, ev(1)] }]);
        want(`${r}-m1`, 2);
        want(`${r}-m2`, 0, 1);
        const blocker = log.append(`${r}-blocker`, [{ type: 'B', data: 0 }]);
        await Promise.all([0, 1, 2].flatMap((i) => [log.append(`${r}-set${i}`, [ev(i)]), log.append(`${r}-xset${i}`, [ev(i)], { expectedRevision: 'no_stream' })]));
        await blocker;
        for (const i of [0, 1, 2]) {
          want(`${r}-set${i}`, i);
          want(`${r}-xset${i}`, i);
        }
        for (const [stream, events] of wanted) expect((await collect(log.read(stream))).map((e) => ({ data: e.data, metadata: e.metadata }))).toStrictEqual(events);
      }),
      { numRuns: 30 },
    );
  });

  test('subscribers are woken by a NOTIFY the appending process sends with or after each commit (every append path); a rolled-back append sends none', async () => {
    const log = open({ maxBatchesInFlight: 1 });
    await log.append('warm', [{ type: 'W', data: 0 }]);
    const c = await rawClient();
    let notified = 0;
    let markers = 0;
    c.on('notification', (m) => {
      if (m.channel !== `dgent_${log.schema}`) return;
      if (m.payload === 'marker') markers++;
      else notified++;
    });
    await c.query(`LISTEN "dgent_${log.schema}"`);
    const woken = async (what: string, append: () => Promise<unknown>): Promise<void> => {
      const before = notified;
      await append();
      await waitFor(() => notified > before, 5_000, `a notification after ${what}`);
    };
    await woken('an exact-revision append (direct statement)', () => log.append('n1', [{ type: 'N', data: 1 }], { expectedRevision: 'no_stream' }));
    await woken("an 'any' append (single-event function)", () => log.append('n1', [{ type: 'N', data: 2 }]));
    await woken('a multi-event append', () => log.append('n1', [{ type: 'N', data: 3 }, { type: 'N', data: 4 }], { expectedRevision: 2 }));
    await woken('appendMany', () => log.appendMany([{ stream: 'n2', events: [{ type: 'N', data: 5 }] }, { stream: 'n3', events: [{ type: 'N', data: 6 }] }]));
    await woken('a group-committed batch', () => Promise.all(Array.from({ length: 10 }, (_, i) => log.append(`b${i}`, [{ type: 'N', data: i }], { expectedRevision: 'no_stream' }))));
    // a rolled-back append sends none, though it would carry the NOTIFY (the first statement after a quiet spell)
    await sleep(300);
    const before = notified;
    const off = log.onAppend(() => {
      throw new Error('veto');
    });
    await expect(log.append('n1', [{ type: 'N', data: 'vetoed' }])).rejects.toThrow('veto');
    off();
    // give a NOTIFY owed at the end of the interval (20 ms) time to be sent, then one of ours: the
    // queue delivers in commit order, so anything the log sent before it has arrived with it
    await sleep(300);
    await c.query(`NOTIFY "dgent_${log.schema}", 'marker'`);
    await waitFor(() => markers === 1, 10_000, 'the marker notification');
    expect(notified).toBe(before);
    // and a subscriber in another log (its own pool and listener), polling only once a minute, gets new events at once
    const other = open({ pollMs: 60_000 }, log.schema);
    const seen: string[] = [];
    const last = (await collect(log.readAll())).at(-1)!.position;
    const listeners = async (): Promise<number> =>
      (await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle' AND query = $1`, [`LISTEN "dgent_${log.schema}"`])).rows[0].n;
    const listening = await listeners(); // ours
    const sub = other.subscribe({ fromPosition: last }, (e) => void seen.push(String(e.data)));
    // its LISTEN has completed (polling once a minute, it would miss a NOTIFY sent before)
    for (let i = 0; (await listeners()) <= listening; i++) {
      if (i > 1_000) throw new Error("the other log's LISTEN never completed");
      await sleep(10);
    }
    await log.append('n4', [{ type: 'N', data: 'live' }], { expectedRevision: 'no_stream' });
    await waitFor(() => seen.includes('live'), 5_000, 'the live event at the other log');
    await sub.close();
  });

  test('NOTIFY is throttled: the first append after a quiet spell carries it in its own transaction, a burst gets one more at the end of the interval; owed ones are sent on close; subscriptions in the appending process are woken at every commit without it', async () => {
    expect(() => open({ notifyIntervalMs: -1 })).toThrow(ValidationError);
    // No wall-clock thresholds: what arrives is counted, and the order of arrival is made certain by
    // a marker NOTIFY of ours (the queue delivers in commit order: when the marker arrives, every
    // NOTIFY sent before it has arrived). Where a slow machine changes the outcome (a burst longer
    // than the interval) the weaker bound that still holds is checked.
    const INTERVAL = 1_000;
    // a pool that counts the NOTIFY statements sent on their own (not carried by an append)
    const pool = new pg.Pool({ connectionString: postgresUrl(), max: 4 });
    let alone = 0;
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: unknown }).query = (...args: unknown[]) => {
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string }).text;
      if (text?.startsWith('SELECT pg_notify(')) alone++;
      return query(...args);
    };
    pools.push(pool);
    const log = open({ connectionString: undefined, pool: pool as never, notifyIntervalMs: INTERVAL, pollMs: 60_000 });
    await log.append('warm', [{ type: 'W', data: 0 }]);
    const heard = await notifications(`dgent_${log.schema}`);
    await sleep(INTERVAL + 200); // quiet: a full interval since the warm-up's NOTIFY
    const t0 = performance.now();
    await log.append('t', [{ type: 'T', data: 0 }], { expectedRevision: 'no_stream' });
    await waitFor(() => heard.at.length === 1, 10_000, 'the leading notification');
    expect(alone).toBe(0); // carried by the append, in its transaction: announced at its commit, not at the end of the interval
    // a burst inside the interval shares one trailing notification, sent alone after its last commit
    for (let i = 1; i <= 20; i++) await log.append('t', [{ type: 'T', data: i }], { expectedRevision: i });
    const burstEnd = performance.now();
    if (burstEnd - t0 < INTERVAL) {
      await waitFor(() => heard.at.length === 2, 10_000, 'the trailing notification');
      expect(heard.at[1]!).toBeGreaterThan(burstEnd);
      expect(alone).toBe(1); // no append was sent when it fell due
    }
    await sleep(1.5 * INTERVAL); // a NOTIFY still owed now would be a throttle fault: give it time to show
    await heard.flush();
    // one NOTIFY per interval at most (they are spaced by the interval on the log's clock)
    expect(heard.at.length).toBeLessThanOrEqual(1 + Math.floor((performance.now() - t0) / INTERVAL));
    if (burstEnd - t0 < INTERVAL) expect(heard.at).toHaveLength(2);
    await log.close();

    // a subscription of the appending log is woken at every commit, without the NOTIFY (owed for a
    // minute here) or its poll (once a minute); close() sends the NOTIFY still owed
    const slow = open({ notifyIntervalMs: 60_000, pollMs: 60_000 });
    const a = await slow.append('t', [{ type: 'T', data: 'a' }]);
    const slowHeard = await notifications(`dgent_${slow.schema}`);
    const seen: unknown[] = [];
    const sub = slow.subscribe({ fromPosition: a.position - 1 }, (e) => void seen.push(e.data));
    await waitFor(() => seen.length === 1, 10_000, "'a', read by the subscription's catch-up");
    await slow.append('t', [{ type: 'T', data: 'b' }], { expectedRevision: 1 }); // after the catch-up read: only a wake brings it
    await waitFor(() => seen.length === 2, 10_000, "'b' at the local subscription");
    expect(seen).toEqual(['a', 'b']);
    await slowHeard.flush();
    expect(slowHeard.at).toHaveLength(0); // 'b' was not announced: the commit woke the subscription
    await sub.close();
    await slow.close();
    await waitFor(() => slowHeard.at.length === 1, 10_000, "the notification owed for 'b', sent by close()");
  });

  test('schema version 9 upgrade: append functions that still NOTIFY inside the transaction (version 8) are replaced', async () => {
    const schema = uniqueSchema('dgp');
    const first = open({}, schema);
    await first.append('a', [{ type: 'E', data: 1 }]);
    const c = await rawClient();
    const notifying = async (): Promise<number> =>
      (await c.query(`SELECT count(*)::int AS n FROM pg_proc WHERE pronamespace = $1::regnamespace AND prosrc LIKE '%pg_notify%'`, [schema])).rows[0].n;
    expect(await notifying()).toBe(0);
    // what version 8 left: the single-event function notifying inside the append's transaction
    const def = (await c.query(`SELECT pg_get_functiondef($1::regproc) AS d`, [`"${schema}".append_event`])).rows[0].d as string;
    await c.query(def.replace(/RETURN ARRAY\[/, `PERFORM pg_notify('dgent_${schema}', '');\n  RETURN ARRAY[`));
    await c.query(`UPDATE "${schema}".dgent_meta SET version = 8`);
    expect(await notifying()).toBe(1);
    const upgraded = open({}, schema);
    expect(await upgraded.append('a', [{ type: 'E', data: 2 }])).toMatchObject({ revision: 2 });
    expect(await notifying()).toBe(0);
    expect((await c.query(`SELECT version FROM "${schema}".dgent_meta`)).rows).toEqual([{ version: SCHEMA_VERSION }]);
  });

  test('concurrent single events at exact revisions to distinct streams (the single-statement batch): each succeeds or throws ConcurrencyError with its actual revision; positions follow batch order', async () => {
    const log = open({ maxBatchesInFlight: 1 });
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ pre: fc.integer({ min: 0, max: 2 }), expect: fc.constantFrom('right', 'wrong', 'no_stream') }), { minLength: 2, maxLength: 12 }), async (appends) => {
        const r = round++;
        for (const [i, a] of appends.entries()) if (a.pre > 0) await log.append(`x${r}-${i}`, Array.from({ length: a.pre }, () => ({ type: 'Pre', data: 0 })));
        const blocker = log.append('x-blocker', [{ type: 'B', data: r }]); // in flight while the appends below queue up as one batch
        const outcomes = await Promise.allSettled(
          appends.map((a, i) => log.append(`x${r}-${i}`, [{ type: 'E', data: { i }, metadata: { r } }], { expectedRevision: a.expect === 'right' ? a.pre : a.expect === 'wrong' ? a.pre + 1 : 'no_stream' })),
        );
        await blocker;
        let last = 0;
        for (const [i, a] of appends.entries()) {
          const o = outcomes[i]!;
          if (a.expect === 'right' || (a.expect === 'no_stream' && a.pre === 0)) {
            expect(o).toMatchObject({ status: 'fulfilled', value: { revision: a.pre + 1 } });
            const events = await collect(log.read(`x${r}-${i}`));
            expect(events.map((e) => [e.revision, e.data, e.metadata])).toEqual([...Array.from({ length: a.pre }, (_, k) => [k + 1, 0, {}]), [a.pre + 1, { i }, { r }]]);
            const position = (o as PromiseFulfilledResult<{ position: number }>).value.position;
            expect(events.at(-1)!.position).toBe(position);
            expect(position).toBeGreaterThan(last);
            last = position;
          } else {
            expect((o as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
            expect(((o as PromiseRejectedResult).reason as ConcurrencyError).actual).toBe(a.pre);
            expect(await log.revision(`x${r}-${i}`)).toBe(a.pre);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  test('concurrent appends to distinct streams (one set-based batch): each succeeds or throws ConcurrencyError with the actual revision exactly as its stream alone decides; stored revisions gapless, positions unique', async () => {
    const log = open({ maxBatchesInFlight: 1 });
    const expected = fc.constantFrom('right', 'wrong', 'any', 'no_stream', 'stream_exists');
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ pre: fc.integer({ min: 0, max: 2 }), count: fc.integer({ min: 1, max: 3 }), expect: expected }), { minLength: 2, maxLength: 12 }), async (appends) => {
        const r = round++;
        for (const [i, a] of appends.entries()) if (a.pre > 0) await log.append(`r${r}-${i}`, Array.from({ length: a.pre }, () => ({ type: 'Pre', data: 0 })));
        const exp = (a: (typeof appends)[number]) => (a.expect === 'right' ? a.pre : a.expect === 'wrong' ? a.pre + 1 : a.expect);
        const outcomes = await Promise.allSettled(appends.map((a, i) => log.append(`r${r}-${i}`, Array.from({ length: a.count }, (_, k) => ({ type: 'E', data: { i, k } })), { expectedRevision: exp(a) })));
        for (const [i, a] of appends.entries()) {
          const passes = a.expect === 'right' || a.expect === 'any' || (a.expect === 'no_stream' && a.pre === 0) || (a.expect === 'stream_exists' && a.pre > 0);
          const o = outcomes[i]!;
          if (passes) {
            expect(o).toMatchObject({ status: 'fulfilled', value: { revision: a.pre + a.count } });
            const events = await collect(log.read(`r${r}-${i}`));
            expect(events.map((e) => e.revision)).toEqual(Array.from({ length: a.pre + a.count }, (_, k) => k + 1));
            expect(events.slice(a.pre).map((e) => e.data)).toEqual(Array.from({ length: a.count }, (_, k) => ({ i, k })));
            const last = (o as PromiseFulfilledResult<{ position: number }>).value.position;
            expect(events.at(-1)!.position).toBe(last);
          } else {
            expect(o.status).toBe('rejected');
            expect((o as PromiseRejectedResult).reason).toBeInstanceOf(ConcurrencyError);
            expect(((o as PromiseRejectedResult).reason as ConcurrencyError).actual).toBe(a.pre);
            expect(await log.revision(`r${r}-${i}`)).toBe(a.pre);
          }
        }
      }),
      { numRuns: 25 },
    );
    const c = await rawClient();
    const all = await c.query(`SELECT count(*)::int AS n, count(DISTINCT position)::int AS p FROM "${log.schema}".events`);
    expect(all.rows[0].p).toBe(all.rows[0].n);
  });

  test('a transaction that took an earlier position and commits late holds back readAll and subscribe, then both events arrive in order', async () => {
    const log = open({ horizonWaitMs: 500, pollMs: 50 });
    await log.append('before', [{ type: 'X', data: 0 }]);
    const delivered: RecordedEvent[] = [];
    const sub = log.subscribe({}, (e) => void delivered.push(e));
    await waitFor(() => delivered.length === 1, 30_000, 'the first event');

    // A: a raw transaction appends through the same function and stays open (it holds position p)
    const a = await rawClient();
    await a.query('BEGIN');
    const ra = await a.query(`SELECT * FROM "${log.schema}".append_batch($1, $2, $3, $4, $5, $6, $7, $8)`, [['A'], [-1], [1], [0], ['id-a'], ['Slow'], '[{"d":1,"m":{}}]', false]);
    const posA = Number(ra.rows[0].pos);
    // B: commits after A took its position
    const b = await log.append('B', [{ type: 'Fast', data: 2 }]);
    expect(b.position).toBeGreaterThan(posA);
    expect((await collect(log.read('B'))).map((e) => e.position)).toEqual([b.position]); // committed and visible per stream

    // readers must not pass A: readAll waits, then throws rather than skip; the subscriber delivers nothing new
    await expect(collect(log.readAll({ fromPosition: 1 }))).rejects.toBeInstanceOf(BackendUnavailableError);
    await sleep(300);
    expect(delivered.map((e) => e.stream)).toEqual(['before']);

    await a.query('COMMIT');
    await waitFor(() => delivered.length === 3, 30_000, 'A and B after A committed');
    expect(delivered.map((e) => e.stream)).toEqual(['before', 'A', 'B']);
    expect(delivered.map((e) => e.position)).toEqual([...delivered.map((e) => e.position)].sort((x, y) => x - y));
    expect((await collect(log.readAll())).map((e) => e.stream)).toEqual(['before', 'A', 'B']);
    await sub.close();
  });

  test('onAppend hook writes a view in the append transaction; a throwing hook fails only its own append among concurrent ones', async () => {
    const log = open();
    const c = await rawClient();
    await log.append('warmup', [{ type: 'W', data: 0 }]); // creates the schema
    await c.query(`CREATE TABLE "${log.schema}".counts (stream text PRIMARY KEY, n int NOT NULL)`);
    log.onAppend(async (events, tx) => {
      for (const e of events) {
        if ((e.data as { bad?: boolean } | null)?.bad) throw new Error('hook refused');
        await tx.query(`INSERT INTO "${log.schema}".counts VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET n = counts.n + 1`, [e.stream]);
      }
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => log.append(`h${i % 3}`, [{ type: 'H', data: { i, bad: i === 5 } }])));
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => ((o as PromiseRejectedResult).reason as Error).message)).toEqual(['hook refused']);
    const counts = await c.query(`SELECT stream, n FROM "${log.schema}".counts ORDER BY stream`);
    expect(counts.rows).toEqual([
      { stream: 'h0', n: 4 },
      { stream: 'h1', n: 4 },
      { stream: 'h2', n: 3 },
    ]);
    expect(await log.revision('h2')).toBe(3);
  });

  test('connection cut mid-append: BackendUnavailableError (no hang, no raw pg error); after restore the log works again', async () => {
    const proxy = await startTcpProxy(postgresUrl());
    proxies.push(proxy);
    const log = open({ connectionString: proxy.url(postgresUrl()), connectTimeoutMs: 2_000, statementTimeoutMs: 3_000 });
    await log.append('s', [{ type: 'A', data: 1 }]);
    // the first, at an exact revision on an idle queue, is sent directly; the rest queue behind it
    const direct = log.append('e', [{ type: 'A', data: 0 }], { expectedRevision: 'no_stream' });
    const pending = Promise.allSettled([direct, ...Array.from({ length: 20 }, (_, i) => log.append('s', [{ type: 'A', data: i }]))]);
    proxy.cut();
    for (const o of await pending) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(BackendUnavailableError);
    await expect(log.append('s', [{ type: 'A', data: 'down' }])).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(log.append('e2', [{ type: 'A', data: 'down' }], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(collect(log.readAll())).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(log.revision('s')).rejects.toBeInstanceOf(BackendUnavailableError);
    proxy.restore();
    const before = await log.revision('s');
    const r = await log.append('s', [{ type: 'A', data: 'back' }], { expectedRevision: before });
    expect(r.revision).toBe(before + 1);
    const all = await collect(log.read('s'));
    expect(all.map((e) => e.revision)).toEqual(Array.from({ length: before + 1 }, (_, i) => i + 1));
    // the failed direct appends gave their slot back: direct sends work again
    expect(await log.append('e2', [{ type: 'A', data: 'back' }], { expectedRevision: 'no_stream' })).toMatchObject({ revision: 1 });
    expect(await log.append('e2', [{ type: 'A', data: 'again' }], { expectedRevision: 1 })).toMatchObject({ revision: 2 });
  });

  test('a server that stops answering (black hole): calls throw BackendUnavailableError after the timeout; after restore the log works again', async () => {
    const proxy = await startTcpProxy(postgresUrl());
    proxies.push(proxy);
    const log = open({ connectionString: proxy.url(postgresUrl()), connectTimeoutMs: 1_000, statementTimeoutMs: 1_000 });
    await log.append('s', [{ type: 'A', data: 1 }]);
    proxy.blackhole();
    await expect(log.append('s', [{ type: 'A', data: 2 }])).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(log.revision('s')).rejects.toBeInstanceOf(BackendUnavailableError);
    proxy.restore();
    // the stalled append's outcome was unknown to the caller: the proxy held its bytes and delivers
    // them on restore, so it may still land, once, at any moment from here on (so: no
    // expectedRevision race against it; the log must simply work and store nothing twice)
    const three = await log.append('s', [{ type: 'A', data: 3 }]);
    expect(three.revision === 2 || three.revision === 3).toBe(true);
    await waitFor(() => proxy.connections <= 2, 10_000, 'the stalled connections to drain');
    const read = await collect(log.read('s'));
    const stored = read.map((e) => e.data);
    expect(stored.filter((d) => d === 1)).toHaveLength(1);
    expect(stored.filter((d) => d === 3)).toHaveLength(1);
    expect(stored.filter((d) => d === 2).length).toBeLessThanOrEqual(1);
    expect(read.map((e) => e.revision)).toEqual(read.map((_, i) => i + 1));
  });

  test('close() while a read waits on a server that stopped answering: the read fails with BackendUnavailableError and close() returns (the watchdog outlives pool.end)', async () => {
    for (const statementTimeoutMs of [0, -1, 1.5, Number.NaN, Infinity, 2 ** 31]) expect(() => open({ statementTimeoutMs })).toThrow(ValidationError);
    for (const connectTimeoutMs of [0, 1.5, 2 ** 31]) expect(() => open({ connectTimeoutMs })).toThrow(ValidationError);
    for (const maxConnections of [0, 2.5, 1e6]) expect(() => open({ maxConnections })).toThrow(ValidationError);
    const proxy = await startTcpProxy(postgresUrl());
    proxies.push(proxy);
    const log = open({ connectionString: proxy.url(postgresUrl()), connectTimeoutMs: 1_000, statementTimeoutMs: 300 }); // watchdog: 5.3 s
    await log.append('s', [{ type: 'A', data: 1 }]);
    proxy.blackhole();
    const t0 = Date.now();
    const read = log.revision('s').then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(50); // the read is on its (pooled, now stalled) connection
    await log.close();
    const error = await read;
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/did not answer within 5300 ms/); // ended by the watchdog, not by the socket
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5_000); // and not before its timeout
    proxy.restore();
  });

  test('the LISTEN connection, held for good, is not taken for a stalled statement: it outlives the watchdog timeout', async () => {
    const log = open({ statementTimeoutMs: 300, pollMs: 60_000 }); // watchdog: 5.3 s
    await log.append('s', [{ type: 'A', data: 1 }]);
    const seen: number[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e.position));
    await waitFor(() => seen.length === 1, 10_000, 'the first event');
    const admin = await rawClient();
    const listening = async (): Promise<number[]> =>
      (await admin.query('SELECT pid FROM pg_stat_activity WHERE query = $1', [`LISTEN "${schemaNames(log.schema).channel}"`])).rows.map((r: { pid: number }) => r.pid);
    const before = await listening();
    expect(before).toHaveLength(1);
    await sleep(6_500);
    expect(await listening()).toEqual(before);
    await sub.close();
  });

  test('a server restart (every connection of the log terminated, idle and busy, the LISTEN one too): the process lives, appends in flight fail with BackendUnavailableError or land once, later appends work, and its subscriber lives on (it hears other processes again, too, once its LISTEN connection alone is lost)', async () => {
    const app = `dgent_restart_${randomUUID().slice(0, 8)}`;
    const url = `${postgresUrl()}${postgresUrl().includes('?') ? '&' : '?'}application_name=${app}`;
    const log = open({ connectionString: url, pollMs: 60_000 }); // its subscriber is woken by NOTIFY only
    const other = open({}, log.schema); // another process, never terminated
    await other.append('s', [{ type: 'A', data: 0 }]);
    const heard: number[] = [];
    const sub = log.subscribe({}, (e) => void heard.push(e.data as number));
    const stopped = sub.done.then(
      () => 'closed',
      (e: unknown) => e,
    );
    const hears = (n: number, what: string): Promise<unknown> => Promise.race([waitFor(() => heard.includes(n), 10_000, what).then(() => 'heard'), stopped]);
    await waitFor(() => heard.length === 1, 10_000, 'the first event');
    const admin = await rawClient();
    const terminate = async (only = '%'): Promise<number> =>
      (await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND query LIKE $2', [app, only])).rowCount ?? 0;
    const listening = async (): Promise<number> =>
      (await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE $2', [app, 'LISTEN %'])).rows[0].n;
    // the LISTEN connection alone: the subscriber listens again and hears another process at once
    expect(await listening()).toBe(1);
    expect(await terminate('LISTEN %')).toBe(1);
    await sleep(100);
    await other.append('s', [{ type: 'A', data: 500 }], { expectedRevision: 1 });
    expect(await hears(500, 'an append of another process after the LISTEN connection was lost')).toBe('heard');
    expect(await listening()).toBe(1);
    // everything, while appends are in flight
    const inflight = Array.from({ length: 40 }, (_, i) => log.append(`b-${i % 4}`, [{ type: 'B', data: i + 1 }]).then(() => 'ok', (e: unknown) => e));
    await sleep(2);
    expect(await terminate()).toBeGreaterThanOrEqual(1);
    for (const r of await Promise.all(inflight)) if (r !== 'ok') expect(r).toBeInstanceOf(BackendUnavailableError);
    await sleep(100);
    await log.append('s', [{ type: 'A', data: 1000 }], { expectedRevision: 2 });
    // the subscriber is woken by this process's own commit; a read of it that met a terminated
    // connection is retried (subscriptionRetryMs), so the subscription lives on
    expect(await hears(1000, "the log's own append after the restart, at its subscriber")).toBe('heard');
    await other.append('s', [{ type: 'A', data: 2000 }], { expectedRevision: 3 });
    expect(await hears(2000, 'an append of another process after the restart')).toBe('heard');
    for (let i = 0; i < 4; i++) {
      const read = await collect(log.read(`b-${i}`));
      expect(read.map((e) => e.revision)).toEqual(read.map((_, k) => k + 1));
    }
    expect(new Set(heard).size).toBe(heard.length); // each event heard once
    await sub.close();
  });

  test('a subscription rides out an outage shorter than subscriptionRetryMs: after the server is back it delivers what was appended meanwhile, in order, exactly once', async () => {
    const proxy = await startTcpProxy(postgresUrl());
    proxies.push(proxy);
    const log = open({ connectionString: proxy.url(postgresUrl()), connectTimeoutMs: 500, statementTimeoutMs: 1_000, pollMs: 50 });
    await expectSubscriptionRidesOutOutage(log, open({}, log.schema), proxy);
  });

  test('a subscription whose server stays away longer than subscriptionRetryMs stops with BackendUnavailableError on done', async () => {
    expect(() => open({ subscriptionRetryMs: -1 })).toThrow(ValidationError);
    const proxy = await startTcpProxy(postgresUrl());
    proxies.push(proxy);
    const log = open({ connectionString: proxy.url(postgresUrl()), connectTimeoutMs: 1_000, statementTimeoutMs: 1_000, pollMs: 50, subscriptionRetryMs: 500 });
    await log.append('s', [{ type: 'A', data: 1 }]);
    const seen: number[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e.position));
    await waitFor(() => seen.length === 1, 30_000, 'the first event');
    const t0 = Date.now();
    proxy.cut();
    await expect(sub.done).rejects.toBeInstanceOf(BackendUnavailableError);
    // not before the window (the schedule within it is checked on a fake clock in subscription.test.ts)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(450);
  });
});
