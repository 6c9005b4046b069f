/**
 * Opening a log directory: rebuild the index from the segments (starting from the cached index
 * file where it checks out), find the end of the valid data, and decide what a bad frame means.
 *
 * A batch of frames is written with one write and one fsync, and the next batch only after that
 * fsync, so un-acknowledged bytes can only be the last batch of the last segment. Each frame
 * records where its batch started (`b`). A damaged frame at offset X is therefore:
 * - a torn tail when no valid frame follows it, or only frames of the same batch (b <= X):
 *   the bytes from X on are truncated and reported;
 * - corruption when a valid frame of a later batch (b > X) follows it, or when it is in a segment
 *   that is not the last: those bytes were acknowledged, so {@link CorruptionError}, nothing cut.
 *
 * With a usable index file, every frame it places in the last segment is checked too (one read
 * of at most `segmentSize` bytes and a CRC-32C per frame): the index only ever covers acknowledged
 * frames, so damage there is corruption. Without this check a damaged frame of the last batch
 * would open (the index hides it), and the next append would turn what a scan reads as a torn
 * tail into damage followed by a later batch: a log that no longer opens once its index is gone.
 * Sealed segments never change, so an append cannot change what they say; their frames are
 * checked when read.
 */
import { open, stat } from 'node:fs/promises';
import { CorruptionError } from '../../core/errors.js';
import { readIndexFile } from './index-file.js';
import { decodeHead } from './record.js';
import { MAGIC, parseFrame, segmentPath } from './segment.js';
import { StreamIndex } from './stream-index.js';

/** What recovery removed from the end of the log when it was opened. */
export interface RecoveryReport {
  /** bytes cut from the end of the last segment (0 when the log was closed cleanly or never torn) */
  truncatedBytes: number;
  /** frame starts found in the cut bytes: commits that were being written when the writer died */
  droppedRecords: number;
  /** the segment file that was cut, when one was */
  file?: string | undefined;
  /** offset the file was cut at */
  offset?: number | undefined;
  /** true when the index was rebuilt by scanning every segment (index file missing or stale) */
  rebuiltIndex: boolean;
}

/** The state a log opens with. */
export interface RecoveredState {
  index: StreamIndex;
  /** valid bytes per segment, ascending by segment number */
  sizes: Map<number, number>;
  report: RecoveryReport;
}

async function readRange(path: string, from: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.allocUnsafe(Math.max(0, size - from));
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, from + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return buf.subarray(0, done);
  } finally {
    await fh.close();
  }
}

/** Index the frames of `buf` (bytes of segment `seg` from offset `base`); return where valid data ends. */
function scan(buf: Buffer, base: number, seg: number, file: string, index: StreamIndex, isLast: boolean): { end: number; dropped: number } {
  let at = 0;
  while (at < buf.length) {
    const r = parseFrame(buf, at);
    const location = `${file} at offset ${base + at}`;
    if (r.kind === 'frame') {
      index.addCommit(seg, base + at, r.size, r.crc, decodeHead(r.payload, location), location);
      at += r.size;
      continue;
    }
    const why = r.kind === 'short' ? 'frame cut short' : r.reason;
    if (!isLast) throw new CorruptionError(`damaged frame (${why}) in a segment that is not the last`, location);
    laterBatchCheck(buf, at, base, file, why);
    let dropped = 0;
    for (let i = buf.indexOf(MAGIC, at); i >= 0; i = buf.indexOf(MAGIC, i + 1)) dropped++;
    return { end: base + at, dropped };
  }
  return { end: base + at, dropped: 0 };
}

/** Throw CorruptionError when a valid frame of a later write batch follows the damage at `at`. */
function laterBatchCheck(buf: Buffer, at: number, base: number, file: string, why: string): void {
  for (let i = buf.indexOf(MAGIC, at + 1); i >= 0; i = buf.indexOf(MAGIC, i + 1)) {
    const r = parseFrame(buf, i);
    if (r.kind !== 'frame') continue;
    const head = decodeHead(r.payload, `${file} at offset ${base + i}`);
    if (head.b > base + at) {
      throw new CorruptionError(
        `damaged frame (${why}) followed by acknowledged data at offset ${base + i}; refusing to truncate`,
        `${file} at offset ${base + at}`,
      );
    }
  }
}

/** CorruptionError unless every frame the index places in segment `seg` is intact in `buf` (its bytes from offset 0). */
function verifyIndexed(buf: Buffer, seg: number, file: string, index: StreamIndex): void {
  const frames = index.frames;
  for (let i = frames.length - 1; i >= 0 && frames[i]!.seg === seg; i--) {
    const f = frames[i]!;
    const r = parseFrame(buf.subarray(0, f.offset + f.size), f.offset);
    if (r.kind === 'frame' && r.crc === f.crc && r.size === f.size) continue;
    const why = r.kind === 'bad' ? r.reason : r.kind === 'short' ? 'file shorter than indexed' : 'checksum differs from the index';
    throw new CorruptionError(`damaged frame (${why}) in acknowledged data (the index file covers it); nothing was cut`, `${file} at offset ${f.offset}`);
  }
}

/** Use the index file when it agrees with the segments; return it and where scanning resumes. */
async function cachedIndex(dir: string, segs: readonly number[]): Promise<{ index: StreamIndex; resume: [number, number] } | undefined> {
  const cached = await readIndexFile(dir);
  if (!cached || cached.covered.length === 0) return undefined;
  const { covered, index } = cached;
  for (let i = 0; i < covered.length; i++) {
    const [seg, bytes] = covered[i]!;
    if (segs[i] !== seg) return undefined;
    const size = (await stat(segmentPath(dir, seg))).size;
    // sealed segments never change; the last covered one may have grown since
    if (i < covered.length - 1 ? size !== bytes : size < bytes) return undefined;
  }
  const last = index.lastFrame();
  if (last) {
    const fh = await open(segmentPath(dir, last.seg), 'r');
    try {
      const buf = Buffer.allocUnsafe(last.size);
      const { bytesRead } = await fh.read(buf, 0, last.size, last.offset);
      const r = parseFrame(buf.subarray(0, bytesRead), 0);
      // the segment holds every byte the index covers, so this frame was acknowledged: damage to
      // it is corruption, never a torn tail to cut (dropping the index here made the scan cut it)
      if (r.kind !== 'frame' || r.crc !== last.crc || r.size !== last.size) {
        const why = r.kind === 'bad' ? r.reason : r.kind === 'short' ? 'file shorter than indexed' : 'checksum differs from the index';
        throw new CorruptionError(`damaged frame (${why}) in acknowledged data (the index file covers it); nothing was cut`, `${segmentPath(dir, last.seg)} at offset ${last.offset}`);
      }
    } finally {
      await fh.close();
    }
  }
  return { index, resume: covered[covered.length - 1]! };
}

/**
 * Rebuild the state of the log in `dir` from segments `segs` (ascending, non-empty). Reports, but
 * does not perform, the truncation of a torn tail: the caller cuts the file (a read-only open
 * just ignores the tail).
 */
export async function recover(dir: string, segs: readonly number[]): Promise<RecoveredState> {
  const cached = await cachedIndex(dir, segs);
  const index = cached?.index ?? new StreamIndex();
  const [resumeSeg, resumeAt] = cached?.resume ?? [segs[0]!, 0];
  const sizes = new Map<number, number>();
  const report: RecoveryReport = { truncatedBytes: 0, droppedRecords: 0, rebuiltIndex: !cached };
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i]!;
    const path = segmentPath(dir, seg);
    if (seg < resumeSeg) {
      sizes.set(seg, (await stat(path)).size);
      continue;
    }
    const base = seg === resumeSeg ? resumeAt : 0;
    const isLast = i === segs.length - 1;
    // the last segment's indexed frames are verified too (see the module comment)
    const verify = cached !== undefined && isLast && seg === resumeSeg && base > 0;
    const whole = await readRange(path, verify ? 0 : base);
    if (verify) verifyIndexed(whole, seg, path, index);
    const buf = verify ? whole.subarray(base) : whole;
    const { end, dropped } = scan(buf, base, seg, path, index, isLast);
    sizes.set(seg, end);
    if (end < base + buf.length) {
      Object.assign(report, { truncatedBytes: base + buf.length - end, droppedRecords: dropped, file: path, offset: end });
    }
  }
  return { index, sizes, report };
}
