/**
 * OpenTelemetry, when `@opentelemetry/api` is installed (an optional peer dependency): loaded with
 * `require` the first time an observed object is created, once per process. Absent, nothing is
 * loaded, nothing fails, and the objects' methods stay unwrapped (unless stats or a hook want them).
 *
 * Only the API is used: spans and metrics go wherever the application registered its SDK (the
 * meter is taken when the object is created, so register the MeterProvider first, as the
 * OpenTelemetry docs advise for every library).
 */
import { createRequire } from 'node:module';

/** The slice of @opentelemetry/api that dgent uses (declared here so the package stays optional). */
export interface OtelSpan {
  setAttribute(key: string, value: string): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(e: Error | string): void;
  end(): void;
  isRecording(): boolean;
  spanContext(): unknown;
}
export interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): { startSpan(name: string, options?: { kind?: number; attributes?: Attributes }): OtelSpan };
    setSpan(ctx: unknown, span: OtelSpan): unknown;
    isSpanContextValid(spanContext: unknown): boolean;
    /** the API's proxy provider, delegating to the registered provider or to a no-op one */
    getTracerProvider(): { getDelegate?(): unknown };
  };
  context: {
    active(): unknown;
    with<A extends unknown[], R>(ctx: unknown, fn: (...args: A) => R, thisArg?: unknown, ...args: A): R;
  };
  metrics: {
    getMeter(name: string, version?: string): {
      createHistogram(name: string, options?: { unit?: string; description?: string }): { record(value: number, attributes?: Attributes): void };
      createCounter(name: string, options?: { unit?: string; description?: string }): { add(value: number, attributes?: Attributes): void };
    };
  };
  SpanKind: { INTERNAL: number; CLIENT: number };
  SpanStatusCode: { ERROR: number };
  /** the provider the API answers with (registered or not: the proxy, delegating to the registered one or to a no-op) */
  ProxyTracerProvider?: new () => { getDelegate(): unknown };
  /** (API 1.3+) a meter that records nothing: its class tells a dead meter from a live one */
  createNoopMeter?(): object;
}
export type Attributes = Record<string, string>;

let loaded: OtelApi | null | undefined;

/** The OpenTelemetry API, or undefined when the package is not installed. */
export function openTelemetryApi(): OtelApi | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

export const INSTRUMENTATION_SCOPE = 'dgent';

/** What one observed object uses: its tracer and instruments, made once. */
export interface OtelBinding {
  api: OtelApi;
  tracer: ReturnType<OtelApi['trace']['getTracer']>;
  duration: ReturnType<ReturnType<OtelApi['metrics']['getMeter']>['createHistogram']>;
  cache: ReturnType<ReturnType<OtelApi['metrics']['getMeter']>['createCounter']>;
  evictions: ReturnType<ReturnType<OtelApi['metrics']['getMeter']>['createCounter']>;
  /**
   * Whether the instruments record anything: a meter taken while no MeterProvider is registered is
   * the API's no-op meter, and stays one (the metrics API has no proxy, unlike the tracer's)
   */
  metricsLive: boolean;
  /** the no-op provider a ProxyTracerProvider delegates to while no tracer provider is registered */
  noopTracerProvider: unknown;
}

export function otelBinding(api: OtelApi): OtelBinding {
  const meter = api.metrics.getMeter(INSTRUMENTATION_SCOPE);
  const noop = api.createNoopMeter?.();
  return {
    api,
    metricsLive: !(noop !== undefined && meter instanceof (noop.constructor as new () => object)),
    noopTracerProvider: api.ProxyTracerProvider !== undefined ? new api.ProxyTracerProvider().getDelegate() : undefined,
    tracer: api.trace.getTracer(INSTRUMENTATION_SCOPE),
    duration: meter.createHistogram('dgent.operation.duration', { unit: 's', description: 'Duration of dgent operations (Store, event logs, CachedAgent)' }),
    cache: meter.createCounter('dgent.cache.requests', { description: 'Cache lookups (Store get/getMany, CachedAgent load), by dgent.cache.result: hit or miss' }),
    evictions: meter.createCounter('dgent.cache.evictions', { description: 'CachedAgent: cached states dropped' }),
  };
}

/** `error.type` of the OpenTelemetry semantic conventions: the dgent error code, else the error's class name. */
export function errorType(e: unknown): string {
  if (!(e instanceof Error)) return '_OTHER';
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : e.name;
}
