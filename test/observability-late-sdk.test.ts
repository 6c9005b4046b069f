/**
 * OpenTelemetry API installed, SDK absent at first: observed objects skip the span work (the API's
 * no-op span has an invalid context, nothing to record or propagate) but still count; a tracer
 * provider registered later, after the objects were made, gets their spans from then on; with
 * every span sampled out (valid contexts, the full path) operations run and count as usual.
 */
import { metrics, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { AlwaysOffSampler, BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryEventLog, Store } from '../src/index.js';

afterEach(() => trace.disable());

/** A set, a get and a failing get: each counted, and no span exported. */
async function countsWithoutSpans(store: Store, spans: InMemorySpanExporter): Promise<void> {
  await store.set('a', 1);
  expect(await store.get('a')).toBe(1);
  await expect(store.get('')).rejects.toThrow();
  expect(spans.getFinishedSpans()).toHaveLength(0);
  expect(store.stats().operations.get).toMatchObject({ count: 2, errors: 1 });
}

describe('OpenTelemetry API without an SDK, then with one', () => {
  it('counts without spans, then records spans once a provider is registered', async () => {
    trace.disable();
    const spans = new InMemorySpanExporter();
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true });
    await countsWithoutSpans(store, spans);

    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
    expect(await store.get('a')).toBe(1);
    await store.set('b', 2);
    // the Store's operations, and the log's append inside the set (its own observed object)
    expect(spans.getFinishedSpans().map((s) => s.name)).toEqual(['store.get', 'memory.append', 'store.set']);
    expect(store.stats().operations.get).toMatchObject({ count: 3, errors: 1 });
    await store.close();
  });

  it('with every span sampled out (valid contexts, nothing recorded) operations still run and count', async () => {
    trace.disable();
    const spans = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ sampler: new AlwaysOffSampler(), spanProcessors: [new SimpleSpanProcessor(spans)] }));
    const store = new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true });
    await countsWithoutSpans(store, spans);
    expect(store.stats().operations.set).toMatchObject({ count: 1, errors: 0 });
    await store.close();
  });
});

describe('OpenTelemetry API without an SDK, and nothing measuring', () => {
  it('a call is the method itself (no clock read); with stats, a hook or a live MeterProvider it is timed', async () => {
    trace.disable();
    const clockReads = async (store: Store): Promise<number> => {
      await store.set('a', 1);
      await store.get('a'); // set up, warm
      const spy = vi.spyOn(performance, 'now');
      try {
        expect(await store.get('a')).toBe(1);
        return spy.mock.calls.length;
      } finally {
        spy.mockRestore();
        await store.close();
      }
    };
    expect(await clockReads(new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 }))).toBe(0);
    expect(await clockReads(new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, stats: true }))).toBeGreaterThan(0);
    expect(await clockReads(new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0, onOperation: () => undefined }))).toBeGreaterThan(0);
    metrics.setGlobalMeterProvider(new MeterProvider());
    try {
      // the meter is taken when the Store is made: this one records
      expect(await clockReads(new Store({ log: new MemoryEventLog(), sweepIntervalMs: 0 }))).toBeGreaterThan(0);
    } finally {
      metrics.disable();
    }
  });
});
