/**
 * Side-by-side timing for benchmarks on a shared, noisy machine: the cases run in alternation
 * (a, b, a, b, ...) in many short rounds, so every case sees the same load; each case reports the
 * median of its rounds.
 */
import type { CaseResult } from './lib.js';

/** One case: its name, the operations one round performs, and the round itself. */
export type PairedCase = [name: string, ops: number, round: () => Promise<void>];

/**
 * Time the cases in alternating rounds, after `warmup` alternating rounds that are not counted;
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
    // alternate which case goes first, so neither always follows the other's side effects
    const order = r % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
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
