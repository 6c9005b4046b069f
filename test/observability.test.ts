/**
 * Observability without services: stats() counts, errors, hits/misses and latency percentiles on
 * the Store, the memory, file and SQLite logs and CachedAgent; the onOperation hook; OpenTelemetry
 * spans and metrics (SDK in-memory exporters); health(). Everything is asserted on counts and on
 * the durations the hook reported, never on wall-clock thresholds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metrics, trace, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CachedAgent, ClosedError, ConcurrencyError, FileEventLog, InvalidKeyError, MemoryEventLog, SqliteEventLog, Store, ValidationError, VolatileAgent, type EventLog, type OperationEvent } from '../src/index.js';
import { FailingAgent } from './support/failing-agent.js';

let dir: string;
const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dgent-obs-'));
  // registered before any observed object is created: the meter is taken at construction
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
});

afterAll(async () => {
  trace.disable();
  metrics.disable();
  await reader.shutdown();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => spans.reset());

/** The exact p-th percentile (nearest rank) of the hook's durations. */
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

/** The histogram is 2-significant-digit HdrHistogram over microseconds: within 1% (plus the µs rounding). */
function expectClose(actual: number, exact: number): void {
  expect(Math.abs(actual - exact)).toBeLessThanOrEqual(exact * 0.01 + 0.0015);
}

describe('Store stats()', () => {
  it('counts every call per operation, errors, and get/getMany hits and misses (property)', async () => {
    const cmd = fc.oneof(
      fc.record({ op: fc.constant('set' as const), key: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ op: fc.constant('get' as const), key: fc.constantFrom('a', 'b', 'c', 'd', '') }),
      fc.record({ op: fc.constant('delete' as const), key: fc.constantFrom('a', 'b') }),
      fc.record({ op: fc.constant('getMany' as const), key: fc.constantFrom('a', 'd') }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { maxLength: 40 }), async (cmds) => {
        const heard: OperationEvent[] = [];
        const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true, onOperation: (e) => heard.push(e) });
        const live = new Set<string>();
        const calls: Record<string, number> = {};
        let errors = 0;
        let hits = 0;
        let misses = 0;
        for (const c of cmds) {
          calls[c.op] = (calls[c.op] ?? 0) + 1;
          if (c.op === 'set') {
            await store.set(c.key, 1);
            live.add(c.key);
          } else if (c.op === 'delete') {
            await store.delete(c.key);
            live.delete(c.key);
          } else if (c.op === 'getMany') {
            await store.getMany([c.key, 'b']);
            for (const k of [c.key, 'b']) live.has(k) ? hits++ : misses++;
          } else if (c.key === '') {
            await expect(store.get(c.key)).rejects.toBeInstanceOf(InvalidKeyError);
            errors++;
          } else {
            await store.get(c.key);
            live.has(c.key) ? hits++ : misses++;
          }
        }
        const s = store.stats();
        expect(Object.fromEntries(Object.entries(s.operations).map(([op, o]) => [op, o.count]))).toEqual(calls);
        expect(s.total).toEqual({ count: cmds.length, errors });
        expect(s.operations.get?.errors ?? 0).toBe(errors);
        expect(s.cache).toEqual({ hits, misses, hitRatio: hits + misses === 0 ? 0 : hits / (hits + misses), evictions: 0 });
        expect(heard.map((e) => e.op)).toEqual(cmds.map((c) => c.op));
        expect(heard.every((e) => e.target === 'store' && e.durationMs >= 0)).toBe(true);
        expect(heard.filter((e) => e.error !== undefined).map((e) => (e.error as Error).name)).toEqual(Array(errors).fill('InvalidKeyError'));
        await store.close();
      }),
      { numRuns: 25 },
    );
  });

  it('p50, p99 and max agree with the durations the hook reported', async () => {
    const durations: number[] = [];
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true, onOperation: (e) => e.op === 'set' && durations.push(e.durationMs) });
    for (let i = 0; i < 300; i++) await store.set(`k${i % 17}`, { i, pad: 'x'.repeat(i) });
    const s = store.stats().operations.set!;
    expect(s.count).toBe(300);
    expectClose(s.p50Ms, percentile(durations, 50));
    expectClose(s.p99Ms, percentile(durations, 99));
    expectClose(s.maxMs, Math.max(...durations));
    expect(s.p50Ms).toBeLessThanOrEqual(s.p99Ms);
    expect(s.p99Ms).toBeLessThanOrEqual(s.maxMs);
    await store.close();
  });

  it('with stats: false, no hook and openTelemetry: false the methods are the prototype\'s (nothing wrapped) and stats() is empty', async () => {
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: false, openTelemetry: false });
    expect(Object.hasOwn(store, 'get')).toBe(false);
    expect(store.get).toBe(Store.prototype.get);
    await store.set('a', 1);
    expect(store.stats()).toEqual({ target: 'store', latencies: false, operations: {}, total: { count: 0, errors: 0 }, cache: { hits: 0, misses: 0, hitRatio: 0, evictions: 0 } });
    const byDefault = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, openTelemetry: false });
    expect(byDefault.get).toBe(Store.prototype.get); // stats are opt-in: nothing wrapped by default
    const observed = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true, openTelemetry: false });
    expect(Object.hasOwn(observed, 'get')).toBe(true);
    await Promise.all([store.close(), byDefault.close(), observed.close()]);
  });

  it('stats: false with a hook counts calls (no latencies) and calls the hook', async () => {
    const ops: string[] = [];
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: false, openTelemetry: false, onOperation: (e) => ops.push(e.op) });
    await store.set('a', 1);
    await store.get('a');
    const s = store.stats();
    expect(s.latencies).toBe(false);
    expect(s.operations.get).toEqual({ count: 1, errors: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, meanMs: 0 });
    expect(ops).toEqual(['set', 'get']);
    await store.close();
  });

  it('a hook that throws does not fail the operation: the throw becomes a process warning', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, onOperation: () => { throw new Error('hook broke'); } });
      await expect(store.set('a', 1)).resolves.toMatchObject({ version: 1 });
      await expect(store.get('a')).resolves.toBe(1);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.message.includes('hook broke'))).toHaveLength(2);
      await store.close();
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a non-function onOperation is a ValidationError', () => {
    expect(() => new Store({ log: new MemoryEventLog(), onOperation: 'x' as never })).toThrow(ValidationError);
  });
});

describe('event log stats()', () => {
  type Opts = { openTelemetry?: boolean; stats?: boolean };
  const logs: [string, (o: Opts) => EventLog & { stats(): ReturnType<MemoryEventLog['stats']> }, string][] = [
    ['memory', (o) => new MemoryEventLog(o), 'memory'],
    ['file', (o) => new FileEventLog({ ...o, dir: join(dir, `file-${Math.random()}`) }), 'file'],
    ['SQLite', (o) => new SqliteEventLog({ ...o, path: join(dir, `log-${Math.random()}.db`) }), 'sqlite'],
  ];
  for (const [name, open, target] of logs) for (const otel of [true, false]) {
    it(`${name} (OpenTelemetry ${otel ? 'on' : 'off'}): counts append, appendMany, read, readAll, revision and subscribe once each call; a conflict counts as an error`, async () => {
      const log = open({ openTelemetry: otel, stats: true });
      await log.append('s', [{ type: 't', data: 1 }]);
      await log.append('s', [{ type: 't', data: 2 }], { expectedRevision: 1 });
      await (log as unknown as MemoryEventLog).appendMany([{ stream: 'u', events: [{ type: 't', data: 3 }] }]);
      await expect(log.append('s', [{ type: 't', data: 4 }], { expectedRevision: 0 })).rejects.toBeInstanceOf(ConcurrencyError);
      const read = [];
      for await (const e of log.read('s')) read.push(e);
      for await (const e of log.readAll({ limit: 1 })) read.push(e);
      expect(read).toHaveLength(3);
      expect(await log.revision('s')).toBe(2);
      const sub = log.subscribe({}, () => undefined);
      await sub.close();
      const s = log.stats();
      expect(s.target).toBe(target);
      const counts = Object.fromEntries(Object.entries(s.operations).map(([op, o]) => [op, [o.count, o.errors]]));
      // append delegates to appendMany inside memory and file logs: still one count per call
      expect(counts).toEqual({ append: [3, 1], appendMany: [1, 0], read: [1, 0], readAll: [1, 0], revision: [1, 0], subscribe: [1, 0] });
      expect(s.total).toEqual({ count: 8, errors: 1 });
      expect(s.cache).toBeUndefined();
      await log.close();
    });
  }

  it('the hook hears every log operation with its target; a read left early still counts once', async () => {
    const heard: OperationEvent[] = [];
    const log = new SqliteEventLog({ path: join(dir, 'hook.db'), onOperation: (e) => heard.push(e) });
    await log.append('s', [{ type: 't', data: 1 }, { type: 't', data: 2 }]);
    for await (const e of log.read('s')) {
      expect(e.revision).toBe(1);
      break;
    }
    await log.revision('nope');
    expect(heard.map((e) => [e.target, e.op, e.error])).toEqual([
      ['sqlite', 'append', undefined],
      ['sqlite', 'read', undefined],
      ['sqlite', 'revision', undefined],
    ]);
    await log.close();
    expect(log.stats().operations.read?.count).toBe(1);
  });
});

describe('CachedAgent stats()', () => {
  it('counts loads served by the cache (hits) and by the backend (misses), and evictions', async () => {
    const backend = new FailingAgent<number>();
    const agent = new CachedAgent({ cache: new VolatileAgent<number>({ maxHistory: 1 }), backend, strategy: 'write-through' });
    await agent.save(1); // cache valid
    await agent.load(); // hit
    await agent.load(); // hit
    backend.failWrites = true;
    await expect(agent.save(2)).rejects.toThrow(); // backend failed: cached state dropped
    backend.failWrites = false;
    await agent.load(); // miss
    await agent.load(); // hit
    const s = agent.stats();
    expect(s.target).toBe('cached-agent');
    expect(s.cache).toEqual({ hits: 3, misses: 1, hitRatio: 0.75, evictions: 1 });
    expect(s.operations.load).toMatchObject({ count: 4, errors: 0 });
    expect(s.operations.save).toMatchObject({ count: 2, errors: 1 });
    await agent.close();
  });

  it('write-around evicts on every save; the next load misses', async () => {
    const agent = new CachedAgent({ cache: new VolatileAgent<number>({ maxHistory: 1 }), backend: new VolatileAgent<number>(), strategy: 'write-around' });
    await agent.save(1);
    await agent.load(); // miss, then cached
    await agent.load(); // hit
    await agent.save(2); // evicts
    await agent.load(); // miss
    expect(agent.stats().cache).toEqual({ hits: 1, misses: 2, hitRatio: 1 / 3, evictions: 1 });
    await agent.close();
  });
});

describe('OpenTelemetry (SDK in-memory exporters)', () => {
  it('Store and log operations become spans with dgent.target and dgent.operation; a failure is an ERROR span with error.type', async () => {
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
    await store.set('a', 1);
    await store.get('a');
    await expect(store.get('')).rejects.toBeInstanceOf(InvalidKeyError);
    const finished = spans.getFinishedSpans();
    const names = finished.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['store.set', 'memory.append', 'store.get']));
    const get = finished.find((s) => s.name === 'store.get' && s.status.code !== SpanStatusCode.ERROR)!;
    expect(get.attributes).toMatchObject({ 'dgent.target': 'store', 'dgent.operation': 'get' });
    expect(get.instrumentationScope.name).toBe('dgent');
    const failed = finished.filter((s) => s.status.code === SpanStatusCode.ERROR);
    expect(failed.map((s) => [s.name, s.attributes['error.type']])).toEqual([['store.get', 'INVALID_KEY']]);
    expect(failed[0]!.events.map((e) => e.name)).toContain('exception');
    const append = finished.find((s) => s.name === 'memory.append')!;
    expect(append.attributes).toMatchObject({ 'dgent.target': 'memory', 'dgent.operation': 'append' });
    await store.close();
  });

  it('SQLite log spans carry db.system.name; reads end when the iteration ends', async () => {
    const log = new SqliteEventLog({ path: join(dir, 'otel.db') });
    await log.append('s', [{ type: 't', data: 1 }]);
    const it = log.read('s')[Symbol.asyncIterator]();
    await it.next();
    expect(spans.getFinishedSpans().map((s) => s.name)).not.toContain('sqlite.read');
    await it.next();
    const read = spans.getFinishedSpans().find((s) => s.name === 'sqlite.read')!;
    expect(read.attributes).toMatchObject({ 'db.system.name': 'sqlite', 'dgent.operation': 'read' });
    await log.close();
  });

  it('metrics: dgent.operation.duration per target and operation (errors with error.type) and dgent.cache.requests by hit or miss', async () => {
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
    await store.set('m', 1);
    await store.get('m');
    await store.get('missing');
    await store.get('missing2');
    await expect(store.get('')).rejects.toThrow();
    await reader.forceFlush();
    const all = metricExporter.getMetrics().flatMap((r) => r.scopeMetrics).filter((s) => s.scope.name === 'dgent').flatMap((s) => s.metrics);
    const last = <T>(name: string): T => all.filter((m) => m.descriptor.name === name).pop() as T;
    const duration = last<HistogramMetricData>('dgent.operation.duration');
    expect(duration.descriptor.unit).toBe('s');
    const gets = duration.dataPoints.filter((p) => p.attributes['dgent.target'] === 'store' && p.attributes['dgent.operation'] === 'get');
    const ok = gets.find((p) => p.attributes['error.type'] === undefined)!;
    const bad = gets.find((p) => p.attributes['error.type'] === 'INVALID_KEY')!;
    expect(ok.value.count).toBeGreaterThanOrEqual(3);
    expect(bad.value.count).toBeGreaterThanOrEqual(1);
    const cache = last<SumMetricData>('dgent.cache.requests');
    const hit = cache.dataPoints.find((p) => p.attributes['dgent.target'] === 'store' && p.attributes['dgent.cache.result'] === 'hit')!;
    const miss = cache.dataPoints.find((p) => p.attributes['dgent.target'] === 'store' && p.attributes['dgent.cache.result'] === 'miss')!;
    expect(hit.value).toBeGreaterThanOrEqual(1);
    expect(miss.value).toBeGreaterThanOrEqual(2);
    await store.close();
  });

  it('openTelemetry: false makes no spans', async () => {
    const store = new Store({ log: new MemoryEventLog({ openTelemetry: false }), sweepIntervalMs: 0, stats: true, openTelemetry: false });
    await store.set('x', 1);
    await store.get('x');
    expect(spans.getFinishedSpans()).toEqual([]);
    expect(store.stats().operations.get?.count).toBe(1);
    await store.close();
  });
});

describe('health()', () => {
  it('memory and SQLite logs: ok with a latency; after close ok: false with ClosedError, not a throw', async () => {
    for (const log of [new MemoryEventLog(), new SqliteEventLog({ path: join(dir, 'health.db') })]) {
      const h = await log.health();
      expect(h).toMatchObject({ ok: true, details: {} });
      expect(h.latencyMs).toBeGreaterThanOrEqual(0);
      expect(log.stats().total.count).toBe(0); // the ping is not an operation of the caller
      await log.close();
      const down = await log.health();
      expect(down.ok).toBe(false);
      if (!down.ok) expect(down.error).toBeInstanceOf(ClosedError);
    }
  });

  it('Store: ok with the log\'s result and the view storage in details; closed: ok false', async () => {
    const store = new Store({ log: new SqliteEventLog({ path: join(dir, 'store-health.db') }), sweepIntervalMs: 0 });
    const h = await store.health();
    expect(h).toMatchObject({ ok: true, target: 'store', details: { log: { ok: true, target: 'sqlite' }, viewStorage: 'sqlite', viewsMode: 'inline' } });
    await store.close();
    const down = await store.health();
    expect(down.ok).toBe(false);
    if (!down.ok) expect(down.error).toBeInstanceOf(ClosedError);
  });

  it('a bad timeoutMs is a ValidationError (a configuration mistake, not a health result)', async () => {
    const log = new MemoryEventLog();
    await expect(log.health({ timeoutMs: 0 })).rejects.toBeInstanceOf(ValidationError);
    await log.close();
  });
});
