/**
 * Segment files and their framing.
 *
 * A segment is a file `segment-<n>.log` holding frames back to back. One frame is one commit
 * (all events of one append, or of one `appendMany`), so a commit is all-or-nothing on recovery:
 *
 * ```
 * | magic "DgL1" (4) | payload length u32 LE (4) | crc32c(length bytes + payload) u32 LE (4) | payload |
 * ```
 *
 * The magic lets recovery look for frames after a damaged one (to tell a torn tail from
 * corruption in the middle); the checksum covers the length so a torn length field is caught too.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';

/** Bytes before the payload. */
export const FRAME_HEADER = 12;
/** Frame start marker. */
export const MAGIC = Buffer.from('DgL1', 'latin1');
/** Largest payload a frame may carry; a length field above it is damage, not data. */
export const MAX_PAYLOAD = 1024 * 1024 * 1024;

const SEGMENT_RE = /^segment-(\d{1,15})\.log$/;

/** File name of segment number `n`. */
export function segmentName(n: number): string {
  return `segment-${String(n).padStart(8, '0')}.log`;
}

/** Segment numbers present in `dir`, ascending (none when `dir` does not exist). Other files are ignored. */
export async function listSegments(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: number[] = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Path of segment `n` in `dir`. */
export function segmentPath(dir: string, n: number): string {
  return join(dir, segmentName(n));
}

function checksum(lenBytes: Uint8Array, payload: Uint8Array): number {
  return crc32c(payload, crc32c(lenBytes));
}

/** Wrap a payload in a frame. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  MAGIC.copy(frame, 0);
  frame.writeUInt32LE(payload.length, 4);
  frame.writeUInt32LE(checksum(frame.subarray(4, 8), payload), 8);
  frame.set(payload, FRAME_HEADER);
  return frame;
}

/** Result of {@link parseFrame}. */
export type FrameParse =
  | { kind: 'frame'; payload: Buffer; size: number; crc: number }
  /** the buffer ends before the frame does */
  | { kind: 'short' }
  | { kind: 'bad'; reason: string };

/** Read the frame starting at `offset` of `buf` (which holds file bytes from some file offset). */
export function parseFrame(buf: Buffer, offset: number): FrameParse {
  if (buf.length - offset < FRAME_HEADER) {
    // a header cut short still has to start like one, or it is damage rather than a torn write
    const have = buf.subarray(offset, Math.min(buf.length, offset + 4));
    return MAGIC.subarray(0, have.length).equals(have) ? { kind: 'short' } : { kind: 'bad', reason: 'bad frame marker' };
  }
  if (buf.readUInt32BE(offset) !== MAGIC.readUInt32BE(0)) return { kind: 'bad', reason: 'bad frame marker' };
  const len = buf.readUInt32LE(offset + 4);
  if (len > MAX_PAYLOAD) return { kind: 'bad', reason: `implausible frame length ${len}` };
  const end = offset + FRAME_HEADER + len;
  if (end > buf.length) return { kind: 'short' };
  const payload = buf.subarray(offset + FRAME_HEADER, end);
  const crc = buf.readUInt32LE(offset + 8);
  if (checksum(buf.subarray(offset + 4, offset + 8), payload) !== crc) return { kind: 'bad', reason: 'checksum mismatch' };
  return { kind: 'frame', payload, size: FRAME_HEADER + len, crc };
}

/** Length of the frame whose header starts at `offset` (no checks beyond the header being there). */
export function frameSizeAt(buf: Buffer, offset: number): number {
  return FRAME_HEADER + buf.readUInt32LE(offset + 4);
}
