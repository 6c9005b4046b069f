/**
 * MemorySnapshotStore: snapshots in this process's memory, for tests and for speeding up
 * `loadAt` on agents whose log lives elsewhere. Lost on exit, which is harmless: snapshots are a
 * cache of the log.
 */
import { ClosedError } from '../../core/errors.js';
import { maxRevisionOf, validateSnapshot, type SnapshotInfo, type SnapshotQuery, type SnapshotRecord, type SnapshotStore } from './snapshot-store.js';

/** In-memory {@link SnapshotStore}; lookups are binary searches over each stream's revisions. */
export class MemorySnapshotStore implements SnapshotStore {
  /** stream → version → records ascending by revision */
  private readonly streams = new Map<string, Map<string, SnapshotRecord[]>>();
  private closed = false;

  async get(stream: string, query: SnapshotQuery): Promise<SnapshotRecord | undefined> {
    this.assertOpen();
    const max = maxRevisionOf(query);
    const list = this.streams.get(stream)?.get(query.version);
    if (!list) return undefined;
    const i = upperBound(list, max) - 1;
    return i >= 0 ? list[i] : undefined;
  }

  async put(snapshot: SnapshotRecord): Promise<void> {
    this.assertOpen();
    const s = validateSnapshot(snapshot);
    const rec: SnapshotRecord = Object.freeze({ ...s, time: new Date(s.time.getTime()) });
    let versions = this.streams.get(s.stream);
    if (!versions) this.streams.set(s.stream, (versions = new Map()));
    let list = versions.get(s.version);
    if (!list) versions.set(s.version, (list = []));
    const i = upperBound(list, s.revision);
    if (i > 0 && list[i - 1]!.revision === s.revision) list[i - 1] = rec;
    else list.splice(i, 0, rec);
  }

  async list(stream: string): Promise<SnapshotInfo[]> {
    this.assertOpen();
    const out: SnapshotInfo[] = [];
    for (const list of this.streams.get(stream)?.values() ?? []) {
      for (const { state: _state, ...info } of list) out.push(info);
    }
    return out.sort((a, b) => a.revision - b.revision || a.version.localeCompare(b.version));
  }

  async delete(stream: string): Promise<number> {
    this.assertOpen();
    let n = 0;
    for (const list of this.streams.get(stream)?.values() ?? []) n += list.length;
    this.streams.delete(stream);
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('MemorySnapshotStore');
  }
}

/** Index of the first record with revision > r. */
function upperBound(list: readonly SnapshotRecord[], r: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.revision <= r) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
