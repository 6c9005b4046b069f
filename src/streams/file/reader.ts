/**
 * Reading committed frames back: positioned reads through one handle per segment, read-ahead over
 * neighbouring frames, checksum and position checks on every frame, and an LRU of decoded
 * commits (the writer also puts freshly committed events there, so live readers rarely touch disk).
 */
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { LRUCache } from 'lru-cache';
import { isPrepared } from '../../core/codec.js';
import { CorruptionError } from '../../core/errors.js';
import type { RecordedEvent } from '../event-log.js';
import { decodeEvents, decodeHead } from './record.js';
import type { CommitHead } from './record.js';
import { parseFrame, segmentPath } from './segment.js';
import type { FrameLoc, StreamIndex } from './stream-index.js';

/** Bytes read at once when neighbouring frames can come along. */
const READ_AHEAD = 256 * 1024;

/** Reads frames of one log directory. */
export class FrameReader {
  private readonly handles = new Map<number, Promise<FileHandle>>();
  private readonly cache: LRUCache<number, readonly RecordedEvent[]>;

  constructor(
    private readonly dir: string,
    private readonly index: () => StreamIndex,
    cacheBytes: number,
  ) {
    this.cache = new LRUCache({ maxSize: Math.max(1, cacheBytes), sizeCalculation: (_v, k) => this.index().frames[k]?.size ?? 1 });
  }

  /**
   * Remember the decoded events of a frame. Events holding Uint8Array data are not kept: the
   * platform cannot freeze bytes, so each read decodes its own copy.
   */
  remember(frameIndex: number, events: readonly RecordedEvent[]): void {
    if (events.every((e) => isPrepared(e.data) && isPrepared(e.metadata))) this.cache.set(frameIndex, events);
  }

  /** All events of frame `fi`, decoded; `sequential` reads (and caches) the following frames too. */
  async events(fi: number, sequential: boolean): Promise<readonly RecordedEvent[]> {
    const hit = this.cache.get(fi);
    if (hit) return hit;
    let result: readonly RecordedEvent[] | undefined;
    for (const r of await this.load(fi, sequential ? READ_AHEAD : 0)) {
      const events = decodeEvents(r.payload, r.head, r.location);
      this.remember(r.fi, events);
      if (r.fi === fi) result = events;
    }
    return result!;
  }

  /** The events of frame `fi` (and following frames) whose type is in `types`, decoding only those. */
  async eventsOfTypes(fi: number, types: ReadonlySet<string>): Promise<{ fi: number; events: readonly RecordedEvent[] }[]> {
    const hit = this.cache.get(fi);
    if (hit) return [{ fi, events: hit.filter((e) => types.has(e.type)) }];
    const out: { fi: number; events: readonly RecordedEvent[] }[] = [];
    for (const r of await this.load(fi, READ_AHEAD)) {
      const events = r.head.e.some((x) => types.has(x[3])) ? decodeEvents(r.payload, r.head, r.location, (i) => types.has(r.head.e[i]![3])) : [];
      out.push({ fi: r.fi, events });
    }
    return out;
  }

  /** Read frame `fi` and the frames after it in the same segment that fit in `budget` bytes. */
  private async load(fi: number, budget: number): Promise<{ fi: number; head: CommitHead; payload: Buffer; location: string }[]> {
    const frames = this.index().frames;
    const first = frames[fi]!;
    let last = fi;
    for (;;) {
      const next = frames[last + 1];
      if (!next || next.seg !== first.seg || next.offset + next.size - first.offset > budget) break;
      last++;
    }
    const span = frames[last]!.offset + frames[last]!.size - first.offset;
    const buf = Buffer.allocUnsafe(span);
    const fh = await this.handle(first.seg);
    let done = 0;
    while (done < span) {
      const { bytesRead } = await fh.read(buf, done, span - done, first.offset + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    const out = [];
    for (let i = fi; i <= last; i++) {
      const loc = frames[i]!;
      const rel = loc.offset - first.offset;
      const r = parseFrame(buf.subarray(0, done), rel);
      const location = `${segmentPath(this.dir, loc.seg)} at offset ${loc.offset}`;
      if (r.kind !== 'frame' || r.crc !== loc.crc) throw new CorruptionError(`committed frame unreadable (${r.kind === 'bad' ? r.reason : r.kind === 'short' ? 'file shorter than indexed' : 'checksum differs from the index'})`, location);
      const head = decodeHead(r.payload, location);
      checkHead(head, loc, location);
      out.push({ fi: i, head, payload: r.payload, location });
    }
    return out;
  }

  private handle(seg: number): Promise<FileHandle> {
    let h = this.handles.get(seg);
    if (!h) {
      h = open(segmentPath(this.dir, seg), 'r');
      this.handles.set(seg, h);
      h.catch(() => this.handles.delete(seg));
    }
    return h;
  }

  /** Close every segment handle. */
  async close(): Promise<void> {
    const hs = [...this.handles.values()];
    this.handles.clear();
    this.cache.clear();
    for (const h of hs) {
      try {
        await (await h).close();
      } catch {
        // a handle that failed to open has nothing to close
      }
    }
  }
}

function checkHead(head: CommitHead, loc: FrameLoc, location: string): void {
  if (head.p !== loc.first || head.e.length !== loc.count) throw new CorruptionError(`frame holds positions ${head.p}.. where the index expects ${loc.first}..`, location);
}
