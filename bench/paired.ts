/**
 * Side-by-side timing for benchmarks on a shared, noisy machine: the cases take turns in many short
 * rounds (a, b, c, then b, c, a, ...), so every case sees the same load; each case reports the
 * median of its rounds.
 */
import type { CaseResult } from './lib.js';

/** One case: its name, the operations one round performs, and the round itself. */
export type PairedCase = [name: string, ops: number, round: () => Promise<void>];

/**
 * Time the cases in rotating rounds, after `warmup` rounds that are not counted;
 * medians per case.
 *
 * The warm-up: with one uncounted round per case (as before 2026-11-30), every case of every
 * PostgreSQL run, baselines included, still sped up over its first 8-10 counted rounds (server
 * sessions, V8's optimiser and the VM settling; visible in the `runs` of bench/results), and the
 * median mixed that ramp with the steady state, in proportions that differ from case to case.
 */
export async function paired<T extends PairedCase[]>(
  cases: [...T],
  rounds = 3 * Number(process.env.BENCH_REPEAT ?? 7),
  warmup = Number(process.env.BENCH_WARMUP ?? 10),
): Promise<{ [K in keyof T]: CaseResult }> {
  const runs: number[][] = cases.map(() => []);
  for (let r = 0; r < Math.max(1, warmup); r++) for (const [, , fn] of cases) await fn();
  for (let r = 0; r < rounds; r++) {
    // rotate the order: every case takes every position equally often, and no case runs twice in a
    // row across rounds (a forward/backward alternation ran the first and last cases twice in a row
    // and the middle one never; with three cases the position alone moved a case's rate by ~10%)
    const order = cases.map((_, i) => (i + r) % cases.length);
    for (const i of order) {
      const [, ops, fn] = cases[i]!;
      const t0 = process.hrtime.bigint();
      await fn();
      runs[i]!.push(ops / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
  }
  const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  return cases.map(([name, ops], i) => ({ name, opsPerSec: median(runs[i]!), runs: runs[i]!, ops })) as { [K in keyof T]: CaseResult };
}
