/**
 * The index file `stream-index.json`: a cache of the {@link StreamIndex}, written atomically
 * (temp file, fsync, rename, fsync the directory) with a checksum over its text.
 *
 * It is never trusted over the segments: on open it is used only when its own checksum is good,
 * every segment it covers is still there with the recorded size, and the last frame it names is
 * found at its offset with its checksum. Otherwise the index is rebuilt by scanning.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { fsLayer } from '../../core/fs-layer.js';
import { StreamIndex } from './stream-index.js';
import type { IndexSnapshot } from './stream-index.js';

/** Name of the index file inside the log directory. */
export const INDEX_FILE = 'stream-index.json';

/** What the index file holds besides the index: how far into which segments it reaches. */
export interface IndexFileContent extends IndexSnapshot {
  v: 1;
  /** [segment, bytes covered] for every segment the index covers, ascending */
  covered: [number, number][];
}

/** The index and its coverage, read from the index file; undefined when missing or unusable. */
export async function readIndexFile(dir: string): Promise<{ index: StreamIndex; covered: [number, number][] } | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, INDEX_FILE), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const nl = text.indexOf('\n');
  if (nl < 0) return undefined;
  const body = text.slice(nl + 1);
  if (text.slice(0, nl) !== crc32c(body).toString(16)) return undefined;
  let content: IndexFileContent;
  try {
    content = JSON.parse(body) as IndexFileContent;
  } catch {
    return undefined;
  }
  if (content?.v !== 1 || !Array.isArray(content.covered)) return undefined;
  const index = StreamIndex.fromSnapshot(content);
  if (!index) return undefined;
  for (const c of content.covered) if (!Array.isArray(c) || !Number.isSafeInteger(c[0]) || !Number.isSafeInteger(c[1])) return undefined;
  for (const f of index.frames) {
    const c = content.covered.find((x) => x[0] === f.seg);
    if (!c || f.offset + f.size > c[1]) return undefined;
  }
  return { index, covered: content.covered };
}

/** Write the index file atomically. */
export async function writeIndexFile(dir: string, index: StreamIndex, covered: [number, number][]): Promise<void> {
  const content: IndexFileContent = { v: 1, covered, ...index.snapshot() };
  const body = JSON.stringify(content);
  const tmp = join(dir, `${INDEX_FILE}.tmp`);
  const fh = await fsLayer.open(tmp, 'w');
  try {
    await fh.writeFile(`${crc32c(body).toString(16)}\n${body}`, 'utf8');
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await fsLayer.rename(tmp, join(dir, INDEX_FILE));
  await syncDir(dir);
}

/** Remove the index file (it is only a cache). */
export async function removeIndexFile(dir: string): Promise<void> {
  try {
    await fsLayer.unlink(join(dir, INDEX_FILE));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** fsync a directory so that created, renamed and removed entries survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fsLayer.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
