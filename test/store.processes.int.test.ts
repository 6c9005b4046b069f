/**
 * The Store across processes: four child processes `incr` one counter on one SQLite file and on
 * one PostgreSQL schema (the total is exact, every increment is a version), and `subscribe` in
 * this process hears a write made by another process (SQLite, PostgreSQL, Redis).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteEventLog, Store, type EventLog, type StoreChange, type ViewStorage } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { RedisEventLog, RedisViewStorage } from '../src/redis.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { REDIS_URL, requireService, uniqueName } from './support/services.js';

const CHILD = fileURLToPath(new URL('./support/store-child.ts', import.meta.url));

/** Run a child to completion; resolves to its `done` value, rejects with its output on a failure. */
function child(args: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    p.on('close', (code) => {
      const m = /done (.*)/.exec(out);
      if (code === 0 && m) resolve(JSON.parse(m[1]!));
      else reject(new Error(`child exited with ${code}\n${out}\n${err}`));
    });
  });
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

interface Place {
  args: Record<string, unknown>;
  open(): { log: EventLog; views?: ViewStorage };
}

function processTests(name: string, place: () => Place, withIncr: boolean): void {
  describe(`Store across processes: ${name}`, () => {
    if (withIncr) {
      it('4 processes incr one counter 25 times each: the total is exact and every increment is a version', async () => {
        const p = place();
        const { log, views } = p.open();
        const store = new Store({ log, views, sweepIntervalMs: 0 });
        try {
          await store.set('other', 0); // the views exist before the children start
          const results = await Promise.all(Array.from({ length: 4 }, () => child({ ...p.args, action: 'incr', n: 25, key: 'counter' })));
          expect(results.every((r) => typeof r === 'number' && r >= 25 && r <= 100)).toBe(true);
          expect(results).toContain(100);
          expect(await store.get('counter')).toBe(100);
          expect((await store.versions('counter')).map((v) => v.value)).toEqual(Array.from({ length: 100 }, (_, i) => 100 - i));
          expect(new Set((await store.audit({ key: 'counter' })).map((a) => a.actor)).size).toBe(4);
        } finally {
          await store.close();
          await views?.close();
          await log.close();
        }
      }, 180_000);
    }

    it('subscribe hears a write made by another process', async () => {
      const p = place();
      const { log, views } = p.open();
      const store = new Store({ log, views, sweepIntervalMs: 0 });
      try {
        const seen: StoreChange[] = [];
        const off = store.subscribe({ namespace: 'shared' }, (c) => void seen.push(c));
        await off.ready;
        const pid = await child({ ...p.args, action: 'set', key: 'from-child', namespace: 'shared' });
        await until(() => seen.length >= 1, 'the change made by the child');
        expect(seen[0]).toMatchObject({ namespace: 'shared', key: 'from-child', type: 'kv.set', version: 1, actor: `pid${pid}`, value: { from: pid } });
        expect(await store.get('from-child', { namespace: 'shared' })).toEqual({ from: pid });
        await off();
      } finally {
        await store.close();
        await views?.close();
        await log.close();
      }
    }, 120_000);
  });
}

processTests(
  'SQLite (one file)',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-store-proc-'));
    dirs.push(dir);
    const path = join(dir, 'store.db');
    return { args: { backend: 'sqlite', path }, open: () => ({ log: new SqliteEventLog({ path }) }) };
  },
  true,
);

const pg = await requireService('PostgreSQL', postgresUrl());
const redis = await requireService('Redis', REDIS_URL);

describe.skipIf(!pg)('PostgreSQL', () => {
  processTests(
    'PostgreSQL (one schema)',
    () => {
      const schema = uniqueSchema('dgstorep');
      schemas.push(schema);
      return { args: { backend: 'postgres', url: postgresUrl(), schema }, open: () => ({ log: new PostgresEventLog({ connectionString: postgresUrl(), schema }) }) };
    },
    true,
  );
});

describe.skipIf(!redis)('Redis', () => {
  processTests(
    'Redis log and async Redis views',
    () => {
      const prefix = uniqueName('dgstorep');
      return {
        args: { backend: 'redis', url: REDIS_URL, prefix },
        open: () => ({ log: new RedisEventLog({ url: REDIS_URL, prefix }), views: new RedisViewStorage({ url: REDIS_URL, prefix: `${prefix}v` }) }),
      };
    },
    false,
  );
});
