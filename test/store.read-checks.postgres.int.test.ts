/**
 * Store transactions on PostgreSQL: the keys a transaction only read are checked inside the
 * append's transaction, atomically with it (src/store/read-checks.ts), so a write to such a key
 * landing between the transaction's reads and its commit always makes it retry, never a lost
 * update or a write skew.
 *
 * - fast-check, deterministic: a test hook on the log, running inside the transaction's own append
 *   (after the Store's pre-append work, before the commit), writes one of the read keys through
 *   another PostgresEventLog (its own pool, so another connection) and commits. The transaction
 *   must run again and write what the new value says. (Before the check was atomic, the keys only
 *   read were checked just before the append, and this write was lost.)
 * - 4 processes, each a Store on one schema: transactions read c0..c3 and add 1 to their own key
 *   while the sum is below a limit. The sum ends exactly at the limit (a write skew would pass it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteViewStorage, Store } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { keyedEvents, keyStream } from '../src/projections/keyed-events.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { POSTGRES_URL, requireService } from './support/services.js';

const CHILD = fileURLToPath(new URL('./support/store-tx-child.ts', import.meta.url));
const up = await requireService('PostgreSQL', POSTGRES_URL);
const dir = mkdtempSync(join(tmpdir(), 'dgent-read-checks-'));
const schemas: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

function child(args: Record<string, unknown>): Promise<{ commits: number; attempts: number }> {
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

describe.skipIf(!up)('Store transactions on PostgreSQL: read keys checked atomically with the append', () => {
  it('a write to a key the transaction only read, landing inside its append from another connection, makes it retry and write from the new value (fast-check)', async () => {
    const schema = uniqueSchema('rck');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const other = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, views: new SqliteViewStorage({ path: join(dir, `${schema}.db`) }), sweepIntervalMs: 0 });
    let inject: (() => Promise<void>) | undefined;
    const off = log.onAppend(async (events) => {
      if (inject === undefined || !events.some((e) => typeof e.metadata.tx === 'string')) return;
      const write = inject;
      inject = undefined;
      await write();
    });
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: -100, max: 100 }), { minLength: 1, maxLength: 4 }),
          fc.nat(),
          fc.integer({ min: -100, max: 100 }),
          fc.boolean(),
          async (initial, pick, changed, writeToo) => {
            const ns = `r${run++}`;
            const reads = initial.map((_, i) => `r${i}`);
            for (const [i, v] of initial.entries()) await store.set(reads[i]!, v, { namespace: ns });
            const target = pick % reads.length;
            const current = [...initial];
            let attempts = 0;
            inject = async () => {
              await other.append(keyStream(ns, reads[target]!), [keyedEvents.set({ value: changed }, { operation: 'set', actor: 'other' })], { expectedRevision: 'any' });
              current[target] = changed;
            };
            await store.transaction(
              async (tx) => {
                attempts++;
                let sum = 0;
                for (const k of reads) sum += (await tx.get<number>(k)) ?? 0;
                await tx.set('w', sum);
                // a transaction that also writes a second key: appendMany with the read checks
                if (writeToo) await tx.set('w2', -sum);
              },
              { namespace: ns },
            );
            expect(inject).toBeUndefined(); // the write happened, inside the first commit
            const sum = current.reduce((s, v) => s + v, 0);
            expect(attempts).toBeGreaterThanOrEqual(2);
            expect(await store.get('w', { namespace: ns })).toBe(sum);
            if (writeToo) expect(await store.get('w2', { namespace: ns })).toBe(-sum);
            expect(await store.get(reads[target]!, { namespace: ns })).toBe(changed);
          },
        ),
        { numRuns: 30 },
      );
    } finally {
      off();
      await store.close();
      await other.close();
      await log.close();
    }
  }, 180_000);

  it('4 processes run read-all-then-increment-own transactions up to a limit: the sum ends exactly at the limit (no write skew)', async () => {
    const schema = uniqueSchema('rcp');
    schemas.push(schema);
    const log = new PostgresEventLog({ connectionString: postgresUrl(), schema });
    const store = new Store({ log, sweepIntervalMs: 0 });
    const n = 4;
    const limit = 40;
    try {
      await store.set('c0', 0); // schema and views exist before the children start
      const results = await Promise.all(Array.from({ length: n }, (_, me) => child({ url: postgresUrl(), schema, me, n, limit })));
      const values = await store.getMany<number>(Array.from({ length: n }, (_, i) => `c${i}`));
      const total = values.reduce<number>((s, v) => s + (v ?? 0), 0);
      expect(total).toBe(limit);
      expect(results.reduce((s, r) => s + r.commits, 0)).toBe(limit);
      // every commit is one version of its key
      for (let i = 0; i < n; i++) expect((await store.versions(`c${i}`)).filter((v) => v.actor === `child${i}`)).toHaveLength(values[i] ?? 0);
    } finally {
      await store.close();
      await log.close();
    }
  }, 300_000);
});
