/**
 * Latency histograms for `stats()`: hdr-histogram-js (the TypeScript port of Gil Tene's
 * HdrHistogram; see docs/observability.md for why this one). Loaded on first use, not when `dgent`
 * is imported, and from its plain-JS Int32 histogram module when present (about a quarter of
 * the package's load time: the package entry also decodes its WebAssembly build and pako).
 */
import { createRequire } from 'node:module';

/** The slice of hdr-histogram-js's Histogram that stats() uses. */
export interface LatencyHistogram {
  recordValue(value: number): void;
  getValueAtPercentile(percentile: number): number;
  readonly maxValue: number;
  readonly mean: number;
  readonly totalCount: number;
}

type Ctor = new (lowest: number, highest: number, digits: number) => LatencyHistogram & { autoResize: boolean };

let ctor: Ctor | undefined;

function load(): Ctor {
  const require = createRequire(import.meta.url);
  try {
    const m = require('hdr-histogram-js/dist/Int32Histogram') as { default?: Ctor };
    if (typeof m.default === 'function') return m.default;
  } catch {
    // a layout other than 3.x's: the package entry has the same class
  }
  const hdr = require('hdr-histogram-js') as { Int32Histogram: Ctor };
  return hdr.Int32Histogram;
}

/**
 * A histogram of microseconds: 2 significant digits (values within 1%), growing as larger
 * values arrive (a few KB once latencies span microseconds to seconds).
 */
export function latencyHistogram(): LatencyHistogram {
  ctor ??= load();
  const h = new ctor(1, 2, 2);
  h.autoResize = true;
  return h;
}
