/** Helpers shared by the EventLog conformance suite and its model-based test. */
import { isInlineProjectionHost, isMultiStreamAppender, type EventLog, type NewEvent, type RecordedEvent } from '../streams/event-log.js';

/** One storage location; `open()` returns a log over it (a new instance each call where the backend allows). */
export interface EventLogPlace {
  open(): EventLog | Promise<EventLog>;
  cleanup?(): void | Promise<void>;
}

/** Options of {@link eventLogContract}. */
export interface EventLogContractOptions {
  /** `open()` twice gives two instances over the same storage, and what was appended survives close + open (default false). */
  reopen?: boolean | undefined;
  /** fast-check runs of the model-based test and of the round-trip properties (default 100; lower only where the lead agrees) */
  runs?: number | undefined;
  /** commands per model-based run, at least (default 50) */
  commands?: number | undefined;
  /** concurrent appenders in the subscription and conflict tests (default 5) */
  concurrentAppenders?: number | undefined;
  /** how long to wait for a subscription to deliver what was appended (default 30 s) */
  deliveryTimeoutMs?: number | undefined;
  /** skip the extended codec types (Date, Map, Set, BigInt, Uint8Array) for backends that store plain JSON only */
  jsonOnly?: boolean | undefined;
  /**
   * Capabilities the log must offer. A required capability that is missing (method and flag gone
   * together) fails the suite instead of skipping its tests. List every capability your log has.
   */
  requires?: readonly EventLogCapability[] | undefined;
}

/**
 * Optional capabilities of an EventLog: `appendMany` (atomic multi-stream append), `onAppend`
 * (inline hooks in the append's transaction), `durable` (an acknowledged append survives a crash).
 */
export type EventLogCapability = 'appendMany' | 'onAppend' | 'durable';

/** True when `log` offers `cap` (method and flag agree). */
export function logOffers(log: EventLog, cap: EventLogCapability): boolean {
  switch (cap) {
    case 'appendMany':
      return isMultiStreamAppender(log);
    case 'onAppend':
      return isInlineProjectionHost(log);
    case 'durable':
      return log.capabilities.durable === true;
  }
}

/** Collect an async iterable into an array. */
export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Wait until `cond()` holds, polling; fails with `what` after `timeoutMs`. Never used to assert on durations. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** `p`, or a failure naming `what` once `ms` have passed (a bound against hangs, never a measurement). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** `n` simple events of type `type` numbered from `from`. */
export function events(n: number, type = 'Tick', from = 1): NewEvent[] {
  return Array.from({ length: n }, (_, i) => ({ type, data: { n: from + i } }));
}

/** The fields a reader compares (time and generated ids vary by backend). */
export function shape(e: RecordedEvent): { stream: string; revision: number; type: string; data: unknown } {
  return { stream: e.stream, revision: e.revision, type: e.type, data: e.data };
}

export { isDeepFrozen } from './values.js';

/** Append `batches` batches of 1-3 events from each of `writers` concurrent writers, yielding between appends. */
export async function appendConcurrently(log: EventLog, writers: number, batches: number): Promise<number> {
  let total = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let b = 0; b < batches; b++) {
        const n = 1 + ((w + b) % 3);
        total += n;
        await log.append(`writer-${w}`, events(n, `W${w}`, b * 3));
        if (b % 4 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    }),
  );
  return total;
}
