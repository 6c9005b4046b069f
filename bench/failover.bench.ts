/**
 * What a write policy costs: saves through fallback() over two SQLite SQLAgents (one file each),
 * writes 'all' vs 'primary-then-queue' (queue in a SqliteQueue, drained within the round; with both
 * backends up no write touches it) vs 'first-available', against one bare SQLAgent, and one bare
 * SQLAgent saving with expectedVersion (what each save of 'primary-then-queue' does: it expects the
 * version its previous apply left). Paired rounds, medians.
 * Run: npx tsx bench/failover.bench.ts (BENCH_OPS, BENCH_REPEAT, BENCH_WARMUP).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SQLAgent, SqliteQueue, fallback } from '../src/index.js';
import { report } from './lib.js';
import { paired } from './paired.js';

export async function main(): Promise<void> {
  const ops = Number(process.env.BENCH_OPS ?? 100);
  const dir = mkdtempSync(join(tmpdir(), 'dgent-bench-failover-'));
  const pair = (name: string): [SQLAgent<{ n: number }>, SQLAgent<{ n: number }>] => [
    new SQLAgent<{ n: number }>({ path: join(dir, `${name}-a.db`), id: 'x' }),
    new SQLAgent<{ n: number }>({ path: join(dir, `${name}-b.db`), id: 'x' }),
  ];
  const bare = new SQLAgent<{ n: number }>({ path: join(dir, 'bare.db'), id: 'x' });
  const expecting = new SQLAgent<{ n: number }>({ path: join(dir, 'expecting.db'), id: 'x' });
  let version = 0;
  const all = fallback(pair('all'));
  const first = fallback(pair('first'), { writes: 'first-available' });
  const queue = new SqliteQueue({ path: join(dir, 'queue.db') });
  const queued = fallback(pair('queued'), { writes: 'primary-then-queue', queue });
  let n = 0;
  const round = (save: (s: { n: number }) => Promise<void>, after?: () => Promise<unknown>) => async (): Promise<void> => {
    for (let i = 0; i < ops; i++) await save({ n: ++n });
    await after?.();
  };
  try {
    const [b, e, a, q, f] = await paired([
      ['one SQLAgent save', ops, round((s) => bare.save(s))],
      ['one SQLAgent save with expectedVersion', ops, round((s) => expecting.save(s, { expectedVersion: version++ }))],
      ["fallback 'all' save (2 SQLAgents)", ops, round((s) => all.save(s))],
      ["fallback 'primary-then-queue' save + drain (2 SQLAgents, SqliteQueue)", ops, round((s) => queued.save(s), () => queued.drain())],
      ["fallback 'first-available' save", ops, round((s) => first.save(s))],
    ]);
    report('failover', [b, e, a, q, f], [
      { label: "'all' vs one agent", subject: a, baseline: b },
      { label: 'a save with expectedVersion vs one without', subject: e, baseline: b },
      { label: "'primary-then-queue' (replay included) vs 'all'", subject: q, baseline: a },
      { label: "'first-available' vs one agent", subject: f, baseline: b },
    ]);
  } finally {
    await Promise.all([bare.close(), expecting.close(), all.close(), first.close(), queued.close()]);
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
