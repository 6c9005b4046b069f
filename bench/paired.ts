/**
 * Side-by-side timing for benchmarks on a shared, noisy machine: the cases run in alternation
 * (a, b, a, b, ...) in many short rounds, so every case sees the same load; each case reports the
 * median of its rounds.
 */
import type { CaseResult } from './lib.js';

/** One case: its name, the operations one round performs, and the round itself. */
export type PairedCase = [name: string, ops: number, round: () => Promise<void>];

/** Time the cases in alternating rounds (after one warm-up round each); medians per case. */
export async function paired<T extends PairedCase[]>(cases: [...T], rounds = 3 * Number(process.env.BENCH_REPEAT ?? 7)): Promise<{ [K in keyof T]: CaseResult }> {
  const runs: number[][] = cases.map(() => []);
  for (const [, , fn] of cases) await fn();
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
