/**
 * The append-only history of a PersistentAgent: one record per line (see record.ts), oldest first.
 *
 * Lines are only ever appended; a save never rewrites the file. A writer killed mid-append leaves
 * a last line without its newline: readers ignore it and the next writer truncates it under the
 * lock before appending. The file is bounded by compaction, which rewrites it atomically (temp
 * file + rename) keeping the newest entries, only once it holds `retention + slack` lines.
 *
 * An entry whose version is above the document's version belongs to a save that was interrupted
 * between its history append and its document rename: it was never acknowledged and is skipped.
 * After a power loss that last line can also be complete but damaged (some of its sectors never
 * reached the disk): while the document is readable such a line is a torn tail too (the document
 * holds the newest version, so the history's copy of it is never read), and the next writer cuts it.
 * When a version appears twice, the later line (the retry that committed) wins.
 */
import { constants, fstatSync, readFileSync, readSync, statSync } from 'node:fs';
import { CorruptionError } from '../../core/errors.js';
import { fdatasyncAsync, fsError, replaceFileAtomic, writeAllSync } from '../../core/atomic-file.js';
import { fsLayer } from '../../core/fs-layer.js';
import { verifyRecord, type RecordHeader } from './record.js';

/** One verified history line. */
export interface HistoryEntry {
  header: RecordHeader;
  text: string;
  /** 1-based line number, for error messages */
  lineNo: number;
}

interface BadLine {
  bad: string;
  lineNo: number;
}

const NL = 0x0a;

/** Read and verify every complete line of a history file (missing file: no lines). */
export function readHistoryFile(path: string): (HistoryEntry | BadLine)[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fsError('cannot read', path, e);
  }
  const out: (HistoryEntry | BadLine)[] = [];
  let start = 0;
  let lineNo = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break; // a torn last line (no newline yet, or never) is not part of the history
    lineNo++;
    const line = text.slice(start, end);
    const h = verifyRecord(line);
    out.push(typeof h === 'string' ? { bad: h, lineNo } : { header: h, text: line, lineNo });
    start = end + 1;
  }
  return out;
}

/**
 * Committed entries, newest first: versions at most `ceiling`, one per version (the last written).
 * A corrupt line met before the walk ends throws CorruptionError naming the line, because the
 * entry it hides could be the one asked for. A finite `ceiling` (the readable document's version
 * minus one) lets a damaged last line pass as the torn tail of an unacknowledged save.
 */
export function* committedNewestFirst(lines: readonly (HistoryEntry | BadLine)[], ceiling: number, path: string): Generator<HistoryEntry> {
  let below = Number.POSITIVE_INFINITY;
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if ('bad' in l && i === lines.length - 1 && Number.isFinite(ceiling)) continue;
    if ('bad' in l) throw new CorruptionError(`history line ${l.lineNo} is corrupt (${l.bad}); call repair() to set it aside`, path);
    const v = l.header.version;
    if (v > ceiling || v >= below) continue;
    below = v;
    yield l;
  }
}

/** The writer's view of the history file: an open append descriptor and what it last saw. */
export class HistoryWriter {
  private fd = -1;
  private ino = -1;
  private size = 0;
  /** complete lines in the file */
  lines = 0;

  constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly base: string,
  ) {}

  /**
   * Under the lock, before appending: follow a compaction by another process (new inode), count
   * lines appended by others, and truncate a torn tail left by a killed writer.
   */
  sync(): void {
    let st;
    try {
      st = statSync(this.path, { throwIfNoEntry: false });
    } catch (e) {
      throw fsError('cannot stat', this.path, e);
    }
    if (!st || this.fd < 0 || st.ino !== this.ino || st.size < this.size) {
      this.reopen();
      return;
    }
    if (st.size === this.size) return;
    const region = Buffer.allocUnsafe(st.size - this.size);
    const n = readSync(this.fd, region, 0, region.length, this.size);
    this.account(region.subarray(0, n), this.size);
  }

  private reopen(): void {
    this.close();
    try {
      this.fd = fsLayer.openSync(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_APPEND, 0o644);
      const st = fstatSync(this.fd);
      this.ino = st.ino;
      this.size = 0;
      this.lines = 0;
      if (st.size > 0) {
        const all = Buffer.allocUnsafe(st.size);
        const n = readSync(this.fd, all, 0, all.length, 0);
        this.account(all.subarray(0, n), 0);
      }
    } catch (e) {
      this.close();
      throw e instanceof CorruptionError ? e : fsError('cannot open', this.path, e);
    }
  }

  /**
   * Count the complete lines in bytes found at `offset`, and cut off a torn tail: an incomplete
   * last line, or (after a power loss) a complete last line that fails its checksum. The caller
   * holds the lock with a readable document or none, so that line is an unacknowledged save.
   */
  private account(bytes: Buffer, offset: number): void {
    let count = 0;
    let lastNl = -1;
    let prevNl = -1;
    for (let i = bytes.indexOf(NL); i >= 0; i = bytes.indexOf(NL, i + 1)) {
      count++;
      prevNl = lastNl;
      lastNl = i;
    }
    let complete = offset + lastNl + 1;
    // the last complete line, when it lies wholly in `bytes` (earlier regions were checked when read)
    if (lastNl >= 0 && (prevNl >= 0 || offset === 0) && typeof verifyRecord(bytes.toString('utf8', prevNl + 1, lastNl)) === 'string') {
      count--;
      complete = offset + prevNl + 1;
    }
    this.lines += count;
    if (complete < offset + bytes.length) {
      try {
        fsLayer.ftruncateSync(this.fd, complete);
      } catch (e) {
        throw fsError('cannot truncate the torn tail of', this.path, e);
      }
    }
    this.size = complete;
  }

  /** Append one line (with its newline). Not durable until {@link datasync}. */
  append(line: Buffer): void {
    try {
      writeAllSync(this.fd, line);
    } catch (e) {
      throw fsError('cannot append to', this.path, e);
    }
    this.size += line.length;
    this.lines++;
  }

  datasync(): Promise<void> {
    return fdatasyncAsync(this.fd, this.path);
  }

  /** Rewrite the file atomically keeping the newest `keep` committed entries (version <= ceiling). */
  async compact(keep: number, ceiling: number, dirFd: number): Promise<void> {
    const kept: string[] = [];
    for (const e of committedNewestFirst(readHistoryFile(this.path), ceiling, this.path)) {
      if (kept.length >= keep) break;
      kept.push(e.text);
    }
    kept.reverse();
    const data = Buffer.from(kept.length ? kept.join('\n') + '\n' : '', 'utf8');
    await replaceFileAtomic(this.dir, dirFd, `${this.base}`, data);
    this.reopen();
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        fsLayer.closeSync(this.fd);
      } catch {
        // closing a descriptor we own cannot lose data: everything was fsynced before
      }
    }
    this.fd = -1;
    this.ino = -1;
  }
}
