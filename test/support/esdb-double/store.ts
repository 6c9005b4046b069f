/**
 * PROTOCOL DOUBLE, NOT A DATABASE: the in-memory state behind the EventStoreDB gRPC double.
 *
 * It keeps what the RPCs of the double need and nothing more: streams with 0-based revisions, one
 * global list in append order with made-up $all positions, and listeners for subscriptions. It
 * implements the expected-revision checks the way EventStoreDB documents them (any, no_stream,
 * stream_exists, an exact 0-based revision) and the truncate-before (`$tb`) of a stream's metadata
 * (the last `$metadata` event of `$$<stream>`): stream reads skip the events below it, $all keeps
 * them (as the server does until a scavenge removes them). None of the server's other rules (no
 * idempotent re-append by event id, no deletes, no ACLs, no scavenging, no explicit transactions). Passing
 * tests against it says the adapter speaks the wire protocol through the official client
 * correctly; it says nothing about how a real EventStoreDB server behaves.
 */

/** One stored event, as the double keeps it. */
export interface StoredEvent {
  readonly stream: string;
  /** 0-based, as on the wire */
  readonly revision: number;
  readonly id: string;
  readonly type: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  readonly customMetadata: Uint8Array;
  /** .NET ticks (100 ns) since the Unix epoch, as the server sends `created` */
  readonly createdTicks: bigint;
  /** commit position = prepare position (as for every event written by a gRPC append) */
  readonly position: bigint;
}

/** An event proposed by an append. */
export interface Proposed {
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
}

/** The expectation of an append, in the server's 0-based terms. */
export type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: bigint };

/** Outcome of an append. */
export type AppendOutcome =
  | { ok: true; revision: number; position: bigint }
  | { ok: false; current: number | undefined; expected: Expected };

/** In-memory streams and $all for the double. */
export class DoubleStore {
  readonly all: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly listeners = new Set<(e: StoredEvent) => void>();
  /** positions look like a transaction-log byte offset: they start high and grow by the record size, never by 1 */
  private nextPosition = 4096n;

  stream(name: string): readonly StoredEvent[] | undefined {
    return this.streams.get(name);
  }

  /** The truncate-before (0-based revision) of a stream's metadata; 0 when none. */
  truncateBefore(name: string): number {
    const meta = this.streams.get(`$$${name}`)?.at(-1);
    if (meta === undefined || meta.type !== '$metadata') return 0;
    try {
      const tb = (JSON.parse(Buffer.from(meta.data).toString('utf8')) as { $tb?: unknown }).$tb;
      return typeof tb === 'number' && Number.isInteger(tb) && tb > 0 ? tb : 0;
    } catch {
      return 0;
    }
  }

  append(name: string, expected: Expected, events: readonly Proposed[]): AppendOutcome {
    const existing = this.streams.get(name);
    const current = existing === undefined ? undefined : existing.length - 1;
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && current === undefined) ||
      (expected.kind === 'stream_exists' && current !== undefined) ||
      (expected.kind === 'revision' && current !== undefined && BigInt(current) === expected.revision);
    if (!ok) return { ok: false, current, expected };
    const list = existing ?? [];
    this.streams.set(name, list);
    const createdTicks = BigInt(Date.now()) * 10_000n;
    let last: StoredEvent | undefined;
    for (const p of events) {
      const e: StoredEvent = { stream: name, revision: list.length, id: p.id, type: p.type, contentType: p.contentType, data: p.data, customMetadata: p.customMetadata, createdTicks, position: this.nextPosition };
      this.nextPosition += BigInt(96 + name.length + p.type.length + p.data.length + p.customMetadata.length);
      list.push(e);
      this.all.push(e);
      last = e;
    }
    for (const e of events.length > 0 ? this.all.slice(this.all.length - events.length) : []) for (const l of this.listeners) l(e);
    if (last === undefined) return { ok: true, revision: list.length - 1, position: -1n };
    return { ok: true, revision: last.revision, position: last.position };
  }

  /** Index of the first event of $all with position >= `position`. */
  indexAtOrAfter(position: bigint): number {
    let lo = 0;
    let hi = this.all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.all[mid]!.position < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  listen(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
