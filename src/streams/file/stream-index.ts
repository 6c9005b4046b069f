/**
 * The in-memory index of a file log: where each commit frame lives, which frame holds each
 * position, and each stream's positions by revision. It only ever holds fsynced commits, and it
 * is rebuilt from the segments (or from the cached index file, checked against them) on open.
 */
import { crc32c } from '@node-rs/crc32';
import { CorruptionError } from '../../core/errors.js';
import type { CommitHead } from './record.js';

/** Where a commit frame lives. */
export interface FrameLoc {
  seg: number;
  offset: number;
  size: number;
  /** position of the frame's first event */
  first: number;
  count: number;
  crc: number;
}

/** Serialised form, stored in the index file. */
export interface IndexSnapshot {
  /** frames, flattened: seg, offset, size, first, count, crc per frame */
  frames: number[];
  /** stream name and its positions in revision order */
  streams: [string, number[]][];
  /** crc32c of each event id, by position: base64 of little-endian u32s */
  ids: string;
}

/** The hash under which event ids are indexed (collisions are resolved by reading the event). */
export function idHash(id: string): number {
  return crc32c(id);
}

/** Frames and stream revisions of a log, built by {@link StreamIndex.addCommit} in position order. */
export class StreamIndex {
  /** last committed position (0 when empty) */
  head = 0;
  readonly frames: FrameLoc[] = [];
  /** frame index of position p at [p - 1] */
  private readonly posFrame: number[] = [];
  private readonly streams = new Map<string, number[]>();
  /** id hash of position p at [p - 1] */
  private hashes = new Uint32Array(1024);
  /** id hash -> position(s) */
  private readonly byHash = new Map<number, number | number[]>();

  /** Current revision of a stream (0 when absent). */
  revision(stream: string): number {
    return this.streams.get(stream)?.length ?? 0;
  }

  /** Positions of a stream, index = revision - 1. Do not modify. */
  positions(stream: string): readonly number[] {
    return this.streams.get(stream) ?? [];
  }

  /** Index (into {@link frames}) of the frame holding position `p`. */
  frameIndex(p: number): number | undefined {
    return this.posFrame[p - 1];
  }

  /** Positions whose event id has the hash of `id` (candidates: compare the ids). */
  idCandidates(id: string): readonly number[] {
    const v = this.byHash.get(idHash(id));
    return v === undefined ? [] : typeof v === 'number' ? [v] : v;
  }

  private addHash(p: number, h: number): void {
    if (p > this.hashes.length) {
      const grown = new Uint32Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[p - 1] = h;
    const v = this.byHash.get(h);
    if (v === undefined) this.byHash.set(h, p);
    else if (typeof v === 'number') this.byHash.set(h, [v, p]);
    else v.push(p);
  }

  /** The last frame, if any. */
  lastFrame(): FrameLoc | undefined {
    return this.frames[this.frames.length - 1];
  }

  /**
   * Add a committed frame. Positions must continue the log and revisions each stream, or the
   * segments are inconsistent: {@link CorruptionError} at `location`.
   */
  addCommit(seg: number, offset: number, size: number, crc: number, head: CommitHead, location: string): void {
    if (head.p !== this.head + 1) throw new CorruptionError(`commit at position ${head.p} where ${this.head + 1} was expected`, location);
    const seen = new Map<string, number>();
    for (const [stream, revision] of head.e) {
      const expected = (seen.get(stream) ?? this.revision(stream)) + 1;
      if (revision !== expected) throw new CorruptionError(`event of stream ${JSON.stringify(stream)} has revision ${revision} where ${expected} was expected`, location);
      seen.set(stream, revision);
    }
    const fi = this.frames.length;
    this.frames.push({ seg, offset, size, first: head.p, count: head.e.length, crc });
    for (let i = 0; i < head.e.length; i++) {
      const stream = head.e[i]![0];
      let list = this.streams.get(stream);
      if (!list) this.streams.set(stream, (list = []));
      list.push(head.p + i);
      this.posFrame.push(fi);
      this.addHash(head.p + i, idHash(head.e[i]![2]));
    }
    this.head += head.e.length;
  }

  /** The index as plain data for the index file. */
  snapshot(): IndexSnapshot {
    const frames: number[] = [];
    for (const f of this.frames) frames.push(f.seg, f.offset, f.size, f.first, f.count, f.crc);
    const ids = Buffer.from(this.hashes.buffer, this.hashes.byteOffset, this.head * 4).toString('base64');
    return { frames, streams: [...this.streams], ids };
  }

  /** Rebuild from a snapshot; undefined when it is not self-consistent (the caller then rescans). */
  static fromSnapshot(s: IndexSnapshot): StreamIndex | undefined {
    const ix = new StreamIndex();
    if (!Array.isArray(s.frames) || s.frames.length % 6 !== 0 || !Array.isArray(s.streams) || typeof s.ids !== 'string') return undefined;
    for (let i = 0; i < s.frames.length; i += 6) {
      const [seg, offset, size, first, count, crc] = s.frames.slice(i, i + 6) as number[];
      if (first !== ix.head + 1 || !(count! >= 1) || !Number.isSafeInteger(offset) || !Number.isSafeInteger(size)) return undefined;
      const fi = ix.frames.length;
      ix.frames.push({ seg: seg!, offset: offset!, size: size!, first: first!, count: count!, crc: crc! });
      for (let k = 0; k < count!; k++) ix.posFrame.push(fi);
      ix.head += count!;
    }
    let total = 0;
    for (const entry of s.streams) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1]) || entry[1].length === 0) return undefined;
      let prev = 0;
      for (const p of entry[1]) {
        if (!Number.isSafeInteger(p) || p <= prev || p > ix.head) return undefined;
        prev = p;
      }
      total += entry[1].length;
      ix.streams.set(entry[0], entry[1]);
    }
    if (total !== ix.head) return undefined;
    const raw = Buffer.from(s.ids, 'base64');
    if (raw.length !== ix.head * 4) return undefined;
    for (let p = 1; p <= ix.head; p++) ix.addHash(p, raw.readUInt32LE((p - 1) * 4));
    return ix;
  }
}
