/**
 * QueryWatchdog, the read timeout of the pools PostgresEventLog creates, on a real server: slow
 * statements (pg_sleep) stand in for a server that does not answer.
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
const TIMEOUT = 200; // the watchdog looks every 50 ms

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
    const end = Date.now() + 5 * TIMEOUT;
    let n = 0;
    while (Date.now() < end) {
      await pool.query('SELECT 1');
      n++;
    }
    await sleep(2 * TIMEOUT); // idle
    expect(n).toBeGreaterThan(10);
    expect(connects()).toBe(1);
    const t0 = Date.now();
    const error: unknown = await pool.query('SELECT pg_sleep(3)').then(
      () => undefined,
      (e: unknown) => e,
    );
    const took = Date.now() - t0;
    expect(error).toBeInstanceOf(Error);
    expect(mapPgError(error, 'testing')).toBeInstanceOf(BackendUnavailableError);
    expect(took).toBeGreaterThanOrEqual(TIMEOUT - 5);
    expect(took).toBeLessThan(TIMEOUT + 50 + 700);
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
      await sleep(4 * TIMEOUT); // held, idle in the transaction
      await held.query('SELECT 2');
      await held.query('COMMIT');
      const t0 = Date.now();
      await expect(held.query('SELECT pg_sleep(3)')).rejects.toThrow();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT - 5);
      expect(Date.now() - t0).toBeLessThan(TIMEOUT + 50 + 700);
    } finally {
      raw.release(true);
    }
    expect((await pool.query('SELECT 3 AS x')).rows[0].x).toBe(3);
  });

  test('after stop() nothing is timed any more', async () => {
    const { pool, watchdog } = setup();
    watchdog.stop();
    const r = await pool.query('SELECT pg_sleep(0.5), 4 AS x');
    expect(r.rows[0].x).toBe(4);
  });
});
