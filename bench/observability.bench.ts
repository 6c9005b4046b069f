/**
 * What observability costs on Store.get (the acceptance: with OpenTelemetry absent, Store get costs
 * <= 5% more than without instrumentation). Cases, side by side in rotating rounds (paired.ts), on
 * a memory log and on SQLite (a file, WAL):
 * - off: `{ stats: false, openTelemetry: false }`, no hook: the Store's methods are not wrapped;
 * - OpenTelemetry absent, default options: `openTelemetry: false` takes exactly the path of a
 *   project without @opentelemetry/api (the loader's result is the same `undefined`); stats are
 *   opt-in, so nothing is wrapped (the acceptance row);
 * - stats, OpenTelemetry absent: `{ stats: true, openTelemetry: false }`: counts and the latency
 *   histogram of stats();
 * - stats + OpenTelemetry API, no SDK: @opentelemetry/api installed (here a dev dependency) and no
 *   SDK registered (spans are the API's non-recording ones);
 * - default options + OpenTelemetry API, no SDK: nothing asks for measurements, so a call checks the
 *   API's span and runs the method itself (since 2026-12-06 evening);
 * - stats + OpenTelemetry SDK: a BasicTracerProvider with a SimpleSpanProcessor into an in-memory
 *   exporter and a MeterProvider, registered globally (second part of the run, after the others).
 * Store.get of one of 1000 keys (~200 B values), sequential calls.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { MemoryEventLog, SqliteEventLog, Store, type EventLog, type StoreOptions } from '../src/index.js';
import { report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';

const N = Number(process.env.BENCH_OBS_N ?? 2000);
const KEYS = 1000;
const value = (i: number) => ({ name: `user ${i}`, age: i % 97, email: `user${i}@example.com`, tags: ['a', 'b'], bio: 'x'.repeat(100) });

const OFF = { stats: false, openTelemetry: false } as const;
const ABSENT: Partial<StoreOptions> = { openTelemetry: false };
const STATS: Partial<StoreOptions> = { stats: true, openTelemetry: false };
const OTEL: Partial<StoreOptions> = { stats: true };

async function filled(log: EventLog, options: Partial<StoreOptions>, seed: boolean): Promise<Store> {
  const store = new Store({ ...options, log, sweepIntervalMs: 0 });
  if (seed) await store.setMany(Array.from({ length: KEYS }, (_, i) => [`k${i}`, value(i)] as const));
  await store.ready();
  return store;
}

function getter(store: Store): () => Promise<void> {
  let n = 0;
  return async () => {
    for (let i = 0; i < N; i++) await store.get(`k${n++ % KEYS}`);
  };
}

async function side(label: string, open: () => EventLog, otelCase: string, otelOptions: Partial<StoreOptions>): Promise<CaseResult[]> {
  // one log, one Store per case: the same data, the same views
  const log = open();
  const stores = [await filled(log, OFF, true), await filled(log, ABSENT, false), await filled(log, STATS, false), await filled(log, otelOptions, false), await filled(log, {}, false)];
  const r = await paired([
    [`Store.get ${label}: instrumentation off`, N, getter(stores[0]!)],
    [`Store.get ${label}: default options, OpenTelemetry absent`, N, getter(stores[1]!)],
    [`Store.get ${label}: stats, OpenTelemetry absent`, N, getter(stores[2]!)],
    [`Store.get ${label}: stats + ${otelCase}`, N, getter(stores[3]!)],
    [`Store.get ${label}: default options + ${otelCase}`, N, getter(stores[4]!)],
  ]);
  for (const s of stores) await s.close();
  await log.close();
  return r;
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-obs-bench-'));
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  try {
    let file = 0;
    const logs: [string, () => EventLog][] = [
      ['(memory)', () => new MemoryEventLog(OFF)],
      ['(SQLite)', () => new SqliteEventLog({ ...OFF, path: join(dir, `obs-${file++}.db`) })],
    ];
    const add = (r: CaseResult[], label: string, otelCase: string, target?: number): void => {
      cases.push(...r);
      if (target !== undefined) {
        comparisons.push({ label: `Store.get ${label}: OpenTelemetry absent (default options) vs off`, subject: r[1]!, baseline: r[0]!, target });
        comparisons.push({ label: `Store.get ${label}: stats, OpenTelemetry absent vs off`, subject: r[2]!, baseline: r[0]! });
      }
      comparisons.push({ label: `Store.get ${label}: stats + ${otelCase} vs off`, subject: r[3]!, baseline: r[0]! });
      comparisons.push({ label: `Store.get ${label}: default options + ${otelCase} vs off`, subject: r[4]!, baseline: r[0]! });
    };
    for (const [label, open] of logs) add(await side(label, open, 'OpenTelemetry API, no SDK', OTEL), label, 'OpenTelemetry API, no SDK', 0.95);
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    metrics.setGlobalMeterProvider(new MeterProvider());
    const drain = setInterval(() => exporter.reset(), 200);
    try {
      for (const [label, open] of logs) add(await side(label, open, 'OpenTelemetry SDK', OTEL), label, 'OpenTelemetry SDK (in-memory spans)');
    } finally {
      clearInterval(drain);
      trace.disable();
      metrics.disable();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report('observability', cases, comparisons);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
