/**
 * Stream revisions remembered by the writer, so an append does not have to SELECT its stream's
 * head. The memory is trusted only while no other connection has committed to the file: SQLite's
 * `PRAGMA data_version` changes exactly when another connection (another process, or another log
 * instance of this process) commits, and is read right after BEGIN IMMEDIATE, under the write
 * lock. Otherwise everything is forgotten and heads are read again.
 *
 * Three layers, so that what a rolled-back append or group wrote is never remembered: `request`
 * (the append being applied), `group` (appends of the open transaction that succeeded so far) and
 * `committed`. Hooks must not write to the events table (they write views).
 */
import type { SqliteStatement as Statement } from './driver-types.js';

/** Streams remembered at most; beyond that the memory starts over (it is a cache, not state). */
const MAX_STREAMS = 10_000;

/** See the module comment. */
export class HeadCache {
  private readonly committed = new Map<string, number>();
  private readonly group = new Map<string, number>();
  private readonly request = new Map<string, number>();
  private version: number | undefined;

  constructor(
    private readonly dataVersion: Statement<[], number>,
    private readonly head: Statement<[string], number>,
  ) {}

  /** Call right after BEGIN IMMEDIATE: forgets everything if another connection committed meanwhile. */
  begin(): void {
    const v = this.dataVersion.get();
    if (v !== this.version) {
      this.committed.clear();
      this.version = v;
    }
    this.group.clear();
    this.request.clear();
  }

  /** Current revision of `stream` inside the open transaction (0 when it has no events). */
  get(stream: string): number {
    const known = this.request.get(stream) ?? this.group.get(stream) ?? this.committed.get(stream);
    if (known !== undefined) return known;
    // not touched by this transaction: what the SELECT sees is committed state
    const read = this.head.get(stream) ?? 0;
    this.remember(stream, read);
    return read;
  }

  /** The append being applied moved `stream` to `revision`. */
  set(stream: string, revision: number): void {
    this.request.set(stream, revision);
  }

  /** The append being applied succeeded (its savepoint was released). */
  requestDone(): void {
    for (const [s, r] of this.request) this.group.set(s, r);
    this.request.clear();
  }

  /** The append being applied was rolled back alone. */
  requestFailed(): void {
    this.request.clear();
  }

  /** The transaction committed. */
  groupCommitted(): void {
    for (const [s, r] of this.group) this.remember(s, r);
    this.group.clear();
  }

  /** The whole transaction was rolled back (or its outcome is unknown): forget everything. */
  reset(): void {
    this.committed.clear();
    this.group.clear();
    this.request.clear();
    this.version = undefined;
  }

  private remember(stream: string, revision: number): void {
    if (this.committed.size >= MAX_STREAMS && !this.committed.has(stream)) this.committed.clear();
    this.committed.set(stream, revision);
  }
}
