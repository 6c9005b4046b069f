/**
 * Benchmark helpers: time a case several times, report the median, print a table with ratios,
 * write JSON to bench/results/<name>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CaseResult {
  name: string;
  /** operations per second, median of the runs */
  opsPerSec: number;
  runs: number[];
  ops: number;
}

/** Run `fn` (which performs `ops` operations) `repeat` times after a warm-up; return the median rate. */
export async function measure(name: string, ops: number, fn: () => Promise<void> | void, repeat = Number(process.env.BENCH_REPEAT ?? 5)): Promise<CaseResult> {
  await fn(); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    runs.push(ops / dt);
  }
  const sorted = [...runs].sort((a, b) => a - b);
  return { name, opsPerSec: sorted[Math.floor(sorted.length / 2)]!, runs, ops };
}

export interface Comparison {
  /** what is compared, e.g. "VolatileAgent load vs async Map get" */
  label: string;
  subject: CaseResult;
  baseline: CaseResult;
  /** the acceptance target for subject/baseline, if any */
  target?: number;
}

/** Print the cases and ratios as a table and write JSON. Returns true when every target is met. */
export function report(benchName: string, cases: CaseResult[], comparisons: Comparison[]): boolean {
  const fmt = (n: number): string => (n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2));
  console.log(`\n## ${benchName}  (median of ${cases[0]?.runs.length ?? 0} runs, node ${process.version})\n`);
  console.log('| case | ops/s |');
  console.log('| --- | ---: |');
  for (const c of cases) console.log(`| ${c.name} | ${fmt(c.opsPerSec)} |`);
  console.log('\n| comparison | ratio | target | met |');
  console.log('| --- | ---: | ---: | :---: |');
  let ok = true;
  const ratios = comparisons.map((c) => {
    const ratio = c.subject.opsPerSec / c.baseline.opsPerSec;
    const met = c.target === undefined ? undefined : ratio >= c.target;
    if (met === false) ok = false;
    console.log(`| ${c.label} | ${ratio.toFixed(2)}× | ${c.target === undefined ? '' : `≥ ${c.target}×`} | ${met === undefined ? '' : met ? 'yes' : 'NO'} |`);
    return { label: c.label, subject: c.subject.name, baseline: c.baseline.name, ratio, target: c.target, met };
  });
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, `${benchName}.json`),
    JSON.stringify({ bench: benchName, date: new Date().toISOString(), node: process.version, cases, comparisons: ratios }, null, 2) + '\n',
  );
  return ok;
}
