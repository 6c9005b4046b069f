/**
 * The PL/pgSQL function behind every append: one call (one round trip) appends a whole group
 * commit batch, checking each append's expected revision and event ids on its own.
 *
 * Gap safety: positions are reserved in a short critical section (a session advisory lock taken
 * and released inside the call) that also assigns the transaction id. Reservation order therefore
 * equals transaction id order, so a row whose transaction is older than a reader's snapshot xmin
 * can never be preceded by a position that is still in flight. Readers (read.ts) stop at the first
 * row whose transaction is not older than xmin.
 *
 * Revisions: a stream's current revision is the last entry of the events table's unique
 * (stream, revision) index. Writers of a stream take turns under a transaction advisory lock keyed
 * by the stream's hash (a collision only makes two streams take turns), so the read-check-insert
 * is exact under READ COMMITTED; the unique index stays the final guard (a stale read, e.g. under
 * a caller's REPEATABLE READ default, fails the insert instead of forking the stream).
 *
 * Order of the two: every function takes its streams' locks first and reserves positions after.
 * The writer of a stream's next revision gets the lock only after the previous writer committed,
 * and that writer reserved its positions before committing, so within a stream position order is
 * revision order (readAll and read agree). Up to schema version 7 the reservation came first, and
 * an 'any' append that waited for the stream lock could store a later revision at an earlier
 * position. The position lock is still never held while waiting: it is taken last and released
 * at once, so the stream locks (taken in one global key order) cannot deadlock with it.
 *
 * Statuses per append: 0 appended, 1 expected revision conflict (revision = actual),
 * 2 idempotent retry of a stored batch (revision/position of the original), 3 duplicate event id
 * (info = the stored rows of the batch's ids).
 */
import type { SchemaNames } from './schema.js';

/** Expected revision as the function takes it: n >= 0 exact (0 = no stream), -1 any, -2 stream exists. */
export const EXPECT_ANY = -1;
export const EXPECT_STREAM_EXISTS = -2;

/** Result statuses of the function, per append. */
export const STATUS = { appended: 0, conflict: 1, retry: 2, duplicate: 3 } as const;

/**
 * The gap-safe position reservation, as one SQL query yielding one row whose column `f` is the first
 * of `count` consecutive positions: under one advisory lock, take the transaction id and reserve the
 * positions, so position order matches transaction-id order (see the file comment). Every append
 * path uses it (the functions through {@link reservePositionsSql}, the plain statements inline).
 *
 * Order of evaluation is fixed by construction, not left to the planner: CASE evaluates its WHEN
 * conditions in order (documented), so `before` (e.g. a stream lock, taken first so that the
 * position lock is never held while waiting), then the position lock, then the transaction id;
 * the ELSE reserves, with setval taking nextval's result as its argument; the OFFSET 0 fence makes
 * the outer WHERE, which releases the lock, run on the row the CASE produced. (A setval in that
 * WHERE beside the unlock would not do: the planner orders quals by cost and ran the unlock first.)
 *
 * @param count SQL expression of the number of positions ('1' when it is always one)
 * @param before SQL expression evaluated before the position lock is taken
 * @param also SQL predicate evaluated with the unlock (the statement's NOTIFY, when it carries one)
 * @param into PL/pgSQL variable to select the position into
 */
export function reserveQuerySql(n: SchemaNames, o: { count: string; before?: string; also?: string; into?: string }): string {
  const [k1, k2] = n.lockKeys;
  const seq = `'${n.seqText}'`;
  const reserve = o.count === '1' ? `nextval(${seq})` : `CASE WHEN ${o.count} = 1 THEN nextval(${seq}) ELSE setval(${seq}, nextval(${seq}) + ${o.count} - 1) - ${o.count} + 1 END`;
  return `SELECT x.f${o.into ? ` INTO ${o.into}` : ''} FROM (
      SELECT CASE${o.before ? `
        WHEN ${o.before} IS NULL THEN NULL` : ''}
        WHEN pg_advisory_lock(${k1}, ${k2}) IS NULL THEN NULL
        WHEN pg_current_xact_id() IS NULL THEN NULL
        ELSE ${reserve} END AS f
      OFFSET 0) x
    WHERE pg_advisory_unlock(${k1}, ${k2})${o.also ? ` AND ${o.also}` : ''}`;
}

/**
 * The reservation in a PL/pgSQL function, into `v_first`: the exception block releases the position
 * lock if anything fails while it is held. `count` names a PL/pgSQL variable or is '1'.
 */
function reservePositionsSql(n: SchemaNames, count: string, before?: string): string {
  const [k1, k2] = n.lockKeys;
  return `  BEGIN
    ${reserveQuerySql(n, { count, before, into: 'v_first' })};
  EXCEPTION WHEN query_canceled OR others THEN
    PERFORM pg_advisory_unlock(${k1}, ${k2});
    RAISE;
  END;`;
}

/** DDL of the append function for one schema (identifiers were validated and are quoted). */
export function appendFunctionSql(n: SchemaNames): string {
  return `
CREATE OR REPLACE FUNCTION ${n.fn}(
  p_streams text[], p_expected int[], p_counts int[], p_explicit smallint[],
  p_ids text[], p_types text[], p_payload json, p_atomic boolean)
RETURNS TABLE(status smallint, revision int, pos bigint, info json, at timestamptz)
LANGUAGE plpgsql
-- Planning dominated a call: under the default plan_cache_mode the statements below kept getting
-- custom plans (their parameters are arrays and json), and a one-event append took ~500 us of
-- server time (synchronous_commit off); with generic plans, made once per connection, ~300 us.
-- The generic plans suit every batch size here (key lookups, a hash join of batch and payload).
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
  v_appends int := cardinality(p_streams);
  v_total int := cardinality(p_ids);
  v_first bigint;
  v_next bigint;
  v_names text[];
  v_revs int[];
  v_key int;
  v_idx int;
  v_cur int;
  v_exp int;
  v_cnt int;
  v_start int := 1;
  v_failed boolean := false;
  f_n int; f_lo int; f_hi int; f_same boolean; f_rev int; f_pos bigint; f_refs json;
  ok_from int[] := '{}'; ok_count int[] := '{}'; ok_stream text[] := '{}'; ok_rev int[] := '{}'; ok_pos bigint[] := '{}';
  r_status smallint[] := '{}'; r_rev int[] := '{}'; r_pos bigint[] := '{}'; r_info json[] := '{}';
BEGIN
  -- lock every stream of the batch in one global order (of the lock keys): concurrent batches cannot deadlock
  SELECT array_agg(s ORDER BY s) INTO v_names FROM (SELECT DISTINCT unnest(p_streams) AS s) d;
  FOR v_key IN SELECT DISTINCT hashtext(s) FROM unnest(v_names) s ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(${n.streamLockKey}, v_key);
  END LOOP;

  -- then reserve positions and take the transaction id in one critical section (see the file comment)
${reservePositionsSql(n, 'v_total')}
  SELECT array_agg(coalesce((SELECT e.revision FROM ${n.events} e WHERE e.stream = u.s ORDER BY e.revision DESC LIMIT 1), 0) ORDER BY u.o) INTO v_revs
    FROM unnest(v_names) WITH ORDINALITY u(s, o);

  v_next := v_first;
  FOR i IN 1 .. v_appends LOOP
    v_cnt := p_counts[i];
    v_idx := array_position(v_names, p_streams[i]);
    v_cur := v_revs[v_idx];
    f_n := 0;
    IF p_explicit[i] > 0 THEN
      SELECT count(*)::int, min(e.revision - u.o), max(e.revision - u.o), bool_and(e.stream = p_streams[i]), max(e.revision), max(e.position),
             json_agg(json_build_object('id', e.id, 'stream', e.stream, 'revision', e.revision, 'position', e.position))
        INTO f_n, f_lo, f_hi, f_same, f_rev, f_pos, f_refs
        FROM unnest(p_ids[v_start : v_start + v_cnt - 1]) WITH ORDINALITY u(id, o) JOIN ${n.events} e ON e.id = u.id;
    END IF;
    IF f_n > 0 THEN
      IF f_n = v_cnt AND p_explicit[i] = 2 AND f_lo = f_hi AND f_same THEN
        r_status := r_status || 2::smallint; r_rev := r_rev || f_rev; r_pos := r_pos || f_pos; r_info := r_info || NULL::json;
      ELSE
        r_status := r_status || 3::smallint; r_rev := r_rev || v_cur; r_pos := r_pos || NULL::bigint; r_info := r_info || f_refs;
        v_failed := true;
      END IF;
    ELSE
      v_exp := p_expected[i];
      IF v_exp = ${EXPECT_ANY} OR (v_exp = ${EXPECT_STREAM_EXISTS} AND v_cur > 0) OR v_exp = v_cur THEN
        ok_from := ok_from || v_start; ok_count := ok_count || v_cnt; ok_stream := ok_stream || p_streams[i];
        ok_rev := ok_rev || v_cur; ok_pos := ok_pos || v_next;
        v_revs[v_idx] := v_cur + v_cnt;
        r_status := r_status || 0::smallint; r_rev := r_rev || (v_cur + v_cnt); r_pos := r_pos || (v_next + v_cnt - 1); r_info := r_info || NULL::json;
        v_next := v_next + v_cnt;
      ELSE
        r_status := r_status || 1::smallint; r_rev := r_rev || v_cur; r_pos := r_pos || NULL::bigint; r_info := r_info || NULL::json;
        v_failed := true;
      END IF;
    END IF;
    v_start := v_start + v_cnt;
  END LOOP;

  IF cardinality(ok_from) > 0 AND NOT (p_atomic AND v_failed) THEN
    INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
    SELECT o.p + g.k, o.s, o.r + 1 + g.k, p_ids[o.f + g.k], p_types[o.f + g.k], coalesce(ev.d, ev.dx::json, 'null'::json), coalesce(ev.m, ev.mx::json), now(), pg_current_xact_id()
      FROM unnest(ok_from, ok_count, ok_stream, ok_rev, ok_pos) o(f, c, s, r, p)
      CROSS JOIN LATERAL generate_series(0, o.c - 1) g(k)
      JOIN ROWS FROM (json_to_recordset(p_payload) AS (d json, m json, dx text, mx text)) WITH ORDINALITY ev(d, m, dx, mx, k) ON ev.k = o.f + g.k
      ORDER BY o.p + g.k;
  END IF;
  RETURN QUERY SELECT x.st, x.rv, x.ps, x.nf, now() FROM unnest(r_status, r_rev, r_pos, r_info) x(st, rv, ps, nf);
END
$fn$;`;
}

/**
 * DDL of the single-append function: the same result row as the batch function, for the commonest
 * call (one stream, no caller-supplied event ids), in less server time: no id lookups (generated
 * ids are unique; a collision fails the insert and the caller retries) and no array bookkeeping.
 * Positions are reserved and streams locked exactly as in the batch function.
 */
export function appendOneFunctionSql(n: SchemaNames): string {
  return `
CREATE OR REPLACE FUNCTION ${n.fnOne}(p_stream text, p_expected int, p_ids text[], p_types text[], p_payload json)
RETURNS TABLE(status smallint, revision int, pos bigint, info json, at timestamptz)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
  v_cnt int := cardinality(p_ids);
  v_first bigint;
  v_cur int;
BEGIN
  -- the stream's writers take turns; the read below starts after the previous one committed
  PERFORM pg_advisory_xact_lock(${n.streamLockKey}, hashtext(p_stream));
${reservePositionsSql(n, 'v_cnt')}
  v_cur := coalesce((SELECT e.revision FROM ${n.events} e WHERE e.stream = p_stream ORDER BY e.revision DESC LIMIT 1), 0);
  IF NOT (p_expected = ${EXPECT_ANY} OR (p_expected = ${EXPECT_STREAM_EXISTS} AND v_cur > 0) OR p_expected = v_cur) THEN
    RETURN QUERY SELECT 1::smallint, v_cur, NULL::bigint, NULL::json, now();
    RETURN;
  END IF;

  INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
    SELECT v_first + ev.k - 1, p_stream, v_cur + ev.k::int, p_ids[ev.k], p_types[ev.k], coalesce(ev.d, ev.dx::json, 'null'::json), coalesce(ev.m, ev.mx::json), now(), pg_current_xact_id()
      FROM ROWS FROM (json_to_recordset(p_payload) AS (d json, m json, dx text, mx text)) WITH ORDINALITY ev(d, m, dx, mx, k)
      ORDER BY ev.k;
  RETURN QUERY SELECT 0::smallint, v_cur + v_cnt, v_first + v_cnt - 1, NULL::json, now();
END
$fn$;`;
}

/**
 * DDL of the single-event function (schema version 8): the commonest call of all, one event to one
 * stream with a generated id, as scalar arguments. Against `append_one` it saves the server the
 * array and json_to_recordset plumbing, the sort, and the tuplestore and row descriptor of a
 * set-returning function: it is called as a scalar and returns one bigint array
 * {status, revision, position, time in epoch ms} ({status, actual revision} on a conflict).
 * Measured with pgbench and perf on the server alone: ~40 us less CPU per append than
 * `append_one` (of ~190); half of that is the set-returning call.
 *
 * The first statement takes the stream's transaction lock and then, in the same statement, makes
 * the position reservation of the other functions ({@link reserveQuerySql}, with the stream lock as
 * its first step, so the position lock is never held while waiting for it). The revision is read
 * by the next statement, whose snapshot starts after the stream lock was granted, so it sees the
 * previous writer's commit.
 */
export function appendEventFunctionSql(n: SchemaNames): string {
  return `
CREATE OR REPLACE FUNCTION ${n.fnEvent}(p_stream text, p_expected int, p_id text, p_type text, p_data json, p_meta json)
RETURNS bigint[]
LANGUAGE plpgsql
AS $fn$
DECLARE
  v_first bigint;
  v_cur int;
BEGIN
${reservePositionsSql(n, '1', `pg_advisory_xact_lock(${n.streamLockKey}, hashtext(p_stream))`)}
  SELECT e.revision INTO v_cur FROM ${n.events} e WHERE e.stream = p_stream ORDER BY e.revision DESC LIMIT 1;
  IF v_cur IS NULL THEN v_cur := 0; END IF;
  IF NOT (p_expected = ${EXPECT_ANY} OR (p_expected = ${EXPECT_STREAM_EXISTS} AND v_cur > 0) OR p_expected = v_cur) THEN
    RETURN ARRAY[${STATUS.conflict}, v_cur];
  END IF;
  INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
    VALUES (v_first, p_stream, v_cur + 1, p_id, p_type, coalesce(p_data, 'null'::json), p_meta, now(), pg_current_xact_id());
  RETURN ARRAY[${STATUS.appended}, v_cur + 1, v_first, floor(extract(epoch FROM now()) * 1000)::bigint];
END
$fn$;`;
}

/**
 * DDL of the set-based batch function (schema version 7) for the commonest group-commit batch:
 * distinct streams, generated ids, not all-or-nothing. The appends are independent, so one
 * statement reads every stream's revision, checks every expected revision and inserts all passing
 * events; the batch function's per-append loop (array bookkeeping, one id query per append) cost
 * ~100 us of server time per append. Same result rows; positions reserved and streams locked
 * exactly as in the batch function (passing appends take consecutive positions in batch order).
 *
 * Two forms of the same body: 'table' (version 7, the rows of the batch function; kept so that a
 * process still running older code keeps working after an upgrade) and 'array' (version 8, what
 * this code calls): called as a scalar, it returns a two-dimensional bigint array, one
 * {status, revision, position} per append, sparing the server the tuplestore and row descriptor
 * of a set-returning function; the caller selects now() beside it when hooks need the time (the
 * transaction's timestamp, the same value the rows store). Version 8 also made the body leaner
 * (the reservation as one statement, json_array_elements instead of json_to_recordset, one
 * aggregate): ~10% less server CPU for a batch of four single-event appends (pgbench + perf).
 */
export function appendSetFunctionSql(n: SchemaNames, form: 'table' | 'array' = 'table'): string {
  const [name, returns, result] =
    form === 'table'
      ? [n.fnSet, 'TABLE(status smallint, revision int, pos bigint, info json, at timestamptz)', 'RETURN QUERY SELECT r[i][1]::smallint, r[i][2]::int, r[i][3], NULL::json, now() FROM generate_subscripts(r, 1) i ORDER BY i;']
      : [n.fnSetArray, 'bigint[]', 'RETURN r;'];
  return `
CREATE OR REPLACE FUNCTION ${name}(p_streams text[], p_expected int[], p_counts int[], p_ids text[], p_types text[], p_payload json)
RETURNS ${returns}
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
DECLARE
  v_total int := cardinality(p_ids);
  v_first bigint;
  r bigint[];
BEGIN
  -- one global lock order (of the keys): concurrent batches cannot deadlock
  PERFORM pg_advisory_xact_lock(${n.streamLockKey}, h.k) FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest(p_streams) s ORDER BY 1) h;
${reservePositionsSql(n, 'v_total')}

  WITH a AS (
    SELECT u.i, u.s, u.x, u.c, (sum(u.c) OVER (ORDER BY u.i) - u.c)::int AS off,
           coalesce((SELECT e.revision FROM ${n.events} e WHERE e.stream = u.s ORDER BY e.revision DESC LIMIT 1), 0) AS cur
      FROM unnest(p_streams, p_expected, p_counts) WITH ORDINALITY u(s, x, c, i)
  ), b AS (
    SELECT a.i, a.s, a.c, a.off, a.cur, (a.x = ${EXPECT_ANY} OR (a.x = ${EXPECT_STREAM_EXISTS} AND a.cur > 0) OR a.x = a.cur) AS ok FROM a
  ), p AS (
    SELECT b.*, sum(CASE WHEN b.ok THEN b.c ELSE 0 END) OVER (ORDER BY b.i) AS okend FROM b
  ), ins AS (
    INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
    SELECT v_first + p.okend - p.c + g.k, p.s, p.cur + 1 + g.k, p_ids[p.off + 1 + g.k], p_types[p.off + 1 + g.k], coalesce(ev.v -> 'd', (ev.v ->> 'dx')::json, 'null'::json), coalesce(ev.v -> 'm', (ev.v ->> 'mx')::json), now(), pg_current_xact_id()
      FROM p CROSS JOIN LATERAL generate_series(0, p.c - 1) g(k)
      JOIN json_array_elements(p_payload) WITH ORDINALITY ev(v, k) ON ev.k = p.off + 1 + g.k
     WHERE p.ok
     ORDER BY 1
  )
  SELECT array_agg(ARRAY[CASE WHEN p.ok THEN ${STATUS.appended} ELSE ${STATUS.conflict} END, CASE WHEN p.ok THEN p.cur + p.c ELSE p.cur END, CASE WHEN p.ok THEN v_first + p.okend - 1 END] ORDER BY p.i)
    INTO r FROM p;

  ${result}
END
$fn$;`;
}

/**
 * SQL queueing the log's NOTIFY when boolean parameter `param` is true; a boolean that is always
 * true (so it can sit in a WHERE). Added to an append statement that carries the NOTIFY: it is then
 * queued in the append's own transaction and delivered at its commit. Which statements carry one
 * is the Notifier's choice.
 */
export function notifyIf(param: string, n: SchemaNames): string {
  return `CASE WHEN ${param}::boolean THEN pg_notify('${n.channel}', NULL) IS NOT NULL ELSE true END`;
}

/**
 * The single-event append with an exact expected revision (a number, or 'no_stream' as 0), without
 * hooks: one plain INSERT statement, no function call at all (~60 us less server time per append
 * than `append_event`, measured with pgbench). Parameters: $1 stream, $2 expected revision,
 * $3 id, $4 type, $5 data, $6 metadata. Returns the new row's position, or no row when revision $2
 * does not exist or another writer took revision $2 + 1 first (ON CONFLICT DO NOTHING on the
 * (stream, revision) key: no error, so the connection is kept). Both are conflicts, and the caller
 * reads the actual revision. $7 (boolean): queue the log's NOTIFY in this transaction (the
 * Notifier decides which statements carry one; see there). A lost race on the unique key still
 * commits the queued NOTIFY: subscribers then read once for nothing.
 *
 * The same guarantees as the functions, by the same means, in one statement: the stream's lock,
 * then the position reservation ({@link reserveQuerySql}); so a stream's position order is still
 * its revision order, and positions still follow transaction-id order. What differs:
 * - The expected revision is checked against the statement's snapshot, taken before the stream
 *   lock is granted. That is exact for the revision the caller knows (it committed before the
 *   call) and for the one after it (the unique index, which waits for an in-flight writer); at
 *   worst a caller guessing a revision still being written gets a conflict it would also have got
 *   a moment earlier.
 * - There is no exception block around the position lock. Nothing between taking and releasing it
 *   can fail in practice (taking the transaction id and nextval, no interrupt checks in between),
 *   and a statement that fails for any reason makes the pool close its connection, which ends the
 *   server session and its locks.
 * - When the expected-revision filter fails, nothing is locked or reserved at all.
 */
export function appendExactSql(n: SchemaNames): string {
  return `INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
SELECT y.f, $1, $2::int + 1, $3, $4, $5::json, $6::json, now(), pg_current_xact_id()
  FROM (${reserveQuerySql(n, { count: '1', before: `pg_advisory_xact_lock(${n.streamLockKey}, hashtext($1))`, also: notifyIf('$7', n) })}) y
 WHERE $2::int = 0 OR EXISTS (SELECT 1 FROM ${n.events} e WHERE e.stream = $1 AND e.revision = $2::int)
ON CONFLICT (stream, revision) DO NOTHING
RETURNING position`;
}

/**
 * The group-commit batch of single events at exact expected revisions (distinct streams, generated
 * ids, no hooks) as one plain statement, the set form of appendExactSql: the streams' locks in one
 * global key order, then the position reservation for the whole batch, then one INSERT whose rows
 * each check their expected revision (as in appendExactSql, against the statement's snapshot, with
 * ON CONFLICT on (stream, revision) for a lost race). Parameters: $1 a json array of
 * {s: stream, x: expected revision, i: id, t: type, d: data, m: metadata}, $2 its length. Everything
 * travels in the one json value so that the plan does not depend on the batch size ($3, boolean:
 * carry the NOTIFY, queued once per stored row, i.e. only when something is stored): with array
 * parameters (whose length a custom plan sees) PostgreSQL kept re-planning the statement on every
 * execution instead of settling on its generic plan. Returns (stream, position)
 * for each stored event; an append without a row is a conflict, and the caller reads the actual
 * revisions. Appends that fail leave their reserved positions unused, as in the functions.
 * Order of evaluation: the reservation's CASE reads the materialised lock CTE first, and the insert
 * reads the materialised reservation.
 */
export function appendExactSetSql(n: SchemaNames): string {
  return `WITH b AS MATERIALIZED (
  SELECT * FROM ROWS FROM (json_to_recordset($1::json) AS (s text, x int, i text, t text, d json, m json, dx text, mx text)) WITH ORDINALITY b(s, x, i, t, d, m, dx, mx, o)
), k AS MATERIALIZED (
  SELECT count(pg_advisory_xact_lock(${n.streamLockKey}, h.h)) AS n
    FROM (SELECT DISTINCT hashtext(b.s) AS h FROM b ORDER BY 1) h
), r AS MATERIALIZED (
  ${reserveQuerySql(n, { count: '$2::int', before: '(SELECT k.n FROM k)' })}
), ins AS (
  INSERT INTO ${n.events} (position, stream, revision, id, type, data, metadata, time, tx)
  SELECT r.f + b.o - 1, b.s, b.x + 1, b.i, b.t, coalesce(b.d, b.dx::json, 'null'::json), coalesce(b.m, b.mx::json), now(), pg_current_xact_id()
    FROM r, b
   -- a scalar subquery, not EXISTS: the planner turned that into one hashed scan of the whole table
   WHERE b.x = 0 OR (SELECT 1 FROM ${n.events} e WHERE e.stream = b.s AND e.revision = b.x LIMIT 1) IS NOT NULL
   ORDER BY 1
  ON CONFLICT (stream, revision) DO NOTHING
  RETURNING stream, position
)
SELECT ins.stream, ins.position, ${notifyIf('$3', n)} FROM ins`;
}
