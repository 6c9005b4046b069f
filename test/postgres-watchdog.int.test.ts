/**
 * QueryWatchdog, the read timeout of the pools PostgresEventLog creates, on a real server: slow
 * statements (pg_sleep) stand in for a server that does not answer.
 *
 * No wall-clock thresholds: a prompt statement must survive an event-loop stall on a loaded
 * machine, so the timeout is a full second (a stall that long would be needed to kill a prompt
 * `SELECT 1`), and a slow statement is shown to be ended by the watchdog by its error (the
 * watchdog's read timeout, long before pg_sleep's 10 s), not by how long it took.
 */
import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { sleep } from '../src/core/mutex.js';
import type { ListenClient } from '../src/streams/postgres/listener.js';
import { mapPgError } from '../src/streams/postgres/errors.js';
import { QueryWatchdog, type PoolEvents } from '../src/streams/postgres/watchdog.js';
import { BackendUnavailableError } from '../src/core/errors.js';
import { postgresUrl } from './support/postgres.js';
import { requireService } from './support/services.js';

const available = await requireService('PostgreSQL', postgresUrl());
const TIMEOUT = 1_000; // the watchdog looks every 250 ms
/** far longer than the timeout: only the watchdog can end it within the test */
const STALL = 'SELECT pg_sleep(10)';
/** the watchdog destroys the socket with this error, so the statement fails with it */
const READ_TIMEOUT = /Query read timeout: PostgreSQL did not answer within 1000 ms/;

describe.skipIf(!available)('QueryWatchdog', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  const setup = (): { pool: pg.Pool; watchdog: QueryWatchdog; connects: () => number } => {
    const pool = new pg.Pool({ connectionString: postgresUrl(), max: 2 });
    pool.on('error', () => undefined);
    let connects = 0;
    pool.on('connect', () => void connects++);
    const watchdog = new QueryWatchdog(pool as unknown as PoolEvents, TIMEOUT);
    cleanup.push(async () => {
      watchdog.stop();
      await pool.end();
    });
    return { pool, watchdog, connects: () => connects };
  };

  test('pool.query: prompt statements for many timeouts are left alone; one that takes longer fails with an unavailability error, and the pool goes on', async () => {
    const { pool, connects } = setup();
    // at least 20 statements, over at least three timeouts (a loop bound, not an assertion)
    const end = performance.now() + 3 * TIMEOUT;
    for (let n = 0; n < 20 || performance.now() < end; n++) await pool.query('SELECT 1');
    await sleep(TIMEOUT + 500); // idle for more than a timeout
    expect(connects()).toBe(1);
    const t0 = performance.now();
    const error: unknown = await pool.query(STALL).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(READ_TIMEOUT);
    expect(mapPgError(error, 'testing')).toBeInstanceOf(BackendUnavailableError);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(TIMEOUT); // never before the timeout
    expect((await pool.query('SELECT 2 AS x')).rows[0].x).toBe(2);
    expect(connects()).toBe(2); // the stalled connection was replaced
  });

  test('a held client is timed per statement: a transaction open for many timeouts with prompt statements survives, a slow statement in it fails', async () => {
    const { pool, watchdog } = setup();
    const raw = await pool.connect();
    raw.on('error', () => undefined);
    const held: ListenClient = watchdog.hold(raw as unknown as ListenClient);
    try {
      await held.query('BEGIN');
      await held.query('SELECT 1');
      await sleep(2 * TIMEOUT); // held, idle in the transaction
      await held.query('SELECT 2');
      await held.query('COMMIT');
      const t0 = performance.now();
      await expect(held.query(STALL)).rejects.toThrow(READ_TIMEOUT);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(TIMEOUT); // never before the timeout
    } finally {
      raw.release(true);
    }
    expect((await pool.query('SELECT 3 AS x')).rows[0].x).toBe(3);
  });

  test('after stop() nothing is timed any more', async () => {
    const { pool, watchdog } = setup();
    watchdog.stop();
    const r = await pool.query(`SELECT pg_sleep(${(1.5 * TIMEOUT) / 1000}), 4 AS x`);
    expect(r.rows[0].x).toBe(4);
  });
});
