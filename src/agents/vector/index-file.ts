/**
 * The VectorAgent's file: items, vectors and (when FAISS built it) the serialised FAISS index, in
 * one checksummed file replaced atomically.
 *
 * Layout: `DGVECTR1` | header length (u32 LE) | header JSON | sections in header order | CRC-32C
 * (u32 LE) of everything before it. Sections: `items` (codec JSON: `[id]`, `[id, data]` or `null`
 * for a tombstone, one per slot), `vectors` (float32 LE, slot-major), `faiss` and `template`
 * (FAISS bytes, optional). Any mismatch is a CorruptionError; the file is never overwritten on read.
 */
import { crc32c } from '@node-rs/crc32';
import { readFile } from 'node:fs/promises';
import { decode, encode } from '../../core/codec.js';
import { checkFilePath, fsError, openDirSync, replaceFileAtomic } from '../../core/atomic-file.js';
import { CorruptionError } from '../../core/errors.js';
import { fsLayer } from '../../core/fs-layer.js';
import type { VectorMetric } from './types.js';
import { bytesToFloats, floatsToBytes } from './vectors.js';

const MAGIC = Buffer.from('DGVECTR1', 'latin1');
const SECTIONS = ['items', 'vectors', 'faiss', 'template'] as const;
type SectionName = (typeof SECTIONS)[number];

/** What the header records. */
export interface IndexFileHeader {
  format: 1;
  dimension: number;
  metric: VectorMetric;
  /** the `index` option the file was built with */
  index: string;
  /** the log stream and its revision the file reflects (logged mode) */
  stream?: string;
  logRevision?: number;
  slots: number;
  sections: Record<SectionName, number>;
}

/** A decoded file. */
export interface IndexFileContent {
  header: IndexFileHeader;
  /** per slot: id and data, or null for a tombstone */
  items: ([string] | [string, unknown] | null)[];
  vectors: Float32Array;
  faiss: Uint8Array | undefined;
  template: Uint8Array | undefined;
}

/** Serialise a file body (the caller writes it atomically). */
export function encodeIndexFile(c: Omit<IndexFileContent, 'header'> & { header: Omit<IndexFileHeader, 'sections' | 'format'> }): Buffer {
  const parts: Record<SectionName, Uint8Array> = {
    items: Buffer.from(encode(c.items), 'utf8'),
    vectors: floatsToBytes(c.vectors),
    faiss: c.faiss ?? new Uint8Array(0),
    template: c.template ?? new Uint8Array(0),
  };
  const header: IndexFileHeader = { format: 1, ...c.header, sections: { items: 0, vectors: 0, faiss: 0, template: 0 } };
  for (const s of SECTIONS) header.sections[s] = parts[s].byteLength;
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(headerBytes.length);
  const body = Buffer.concat([MAGIC, len, headerBytes, ...SECTIONS.map((s) => parts[s])]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32LE(crc32c(body) >>> 0);
  return Buffer.concat([body, crc]);
}

/** Read and check a file; undefined when it does not exist. */
export async function readIndexFile(path: string): Promise<IndexFileContent | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError('cannot read', path, e);
  }
  return decodeIndexFile(buf, path);
}

/** Decode file bytes; CorruptionError naming `location` on any inconsistency. */
export function decodeIndexFile(buf: Buffer, location: string): IndexFileContent {
  const bad = (why: string): never => {
    throw new CorruptionError(`vector index file is damaged: ${why}; restore it from a backup, or delete it and rebuild from the log`, location);
  };
  if (buf.length < MAGIC.length + 8 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) bad('not a dgent vector file (bad magic)');
  const body = buf.subarray(0, buf.length - 4);
  if ((crc32c(body) >>> 0) !== buf.readUInt32LE(buf.length - 4)) bad('checksum mismatch');
  const hlen = buf.readUInt32LE(MAGIC.length);
  let o = MAGIC.length + 4;
  if (o + hlen > body.length) bad('header overruns the file');
  let header: IndexFileHeader;
  try {
    header = JSON.parse(body.toString('utf8', o, o + hlen)) as IndexFileHeader;
  } catch {
    return bad('header is not JSON');
  }
  o += hlen;
  if (header.format !== 1) bad(`unknown format ${String(header.format)}`);
  if (!Number.isInteger(header.dimension) || header.dimension < 1) bad('bad dimension');
  if (!['l2', 'ip', 'cosine'].includes(header.metric)) bad('bad metric');
  if (!Number.isInteger(header.slots) || header.slots < 0) bad('bad slot count');
  const sec = {} as Record<SectionName, Buffer>;
  for (const s of SECTIONS) {
    const n = header.sections?.[s];
    if (!Number.isInteger(n) || n! < 0 || o + n! > body.length) bad(`section ${s} overruns the file`);
    sec[s] = body.subarray(o, o + n!);
    o += n!;
  }
  if (o !== body.length) bad('trailing bytes');
  const vectors = bytesToFloats(sec.vectors);
  if (!vectors || vectors.length !== header.slots * header.dimension) bad('vector section does not match the slot count');
  const items = decode<IndexFileContent['items']>(sec.items.toString('utf8'), location);
  if (!Array.isArray(items) || items.length !== header.slots) bad('item section does not match the slot count');
  for (const it of items) if (it !== null && (!Array.isArray(it) || typeof it[0] !== 'string' || it.length > 2)) bad('malformed item entry');
  return {
    header,
    items,
    vectors: vectors!,
    faiss: sec.faiss.length > 0 ? sec.faiss : undefined,
    template: sec.template.length > 0 ? sec.template : undefined,
  };
}

/** Replace the file at `path` with `bytes` atomically: temp file, fsync, rename, directory fsync. */
export async function writeIndexFile(path: string, bytes: Uint8Array): Promise<void> {
  const { dir, base } = checkFilePath(path);
  let dirFd: number;
  try {
    fsLayer.mkdirSync(dir, { recursive: true });
    dirFd = openDirSync(dir);
  } catch (e) {
    throw fsError('cannot open directory', dir, e);
  }
  try {
    await replaceFileAtomic(dir, dirFd, base, bytes);
  } finally {
    fsLayer.closeSync(dirFd);
  }
}
