/**
 * The PersistentAgent document (the current state, one record) and its companion files. All
 * derived names are `dir/<base><suffix>`, so none can leave the caller's directory.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { CorruptionError } from '../../core/errors.js';
import { checkFilePath, fsError, replaceFileAtomic } from '../../core/atomic-file.js';
import { fsLayer } from '../../core/fs-layer.js';
import { CRC_PREFIX_LENGTH, recordCrc, verifyRecord, type RecordHeader } from './record.js';
import { readHistoryFile, type HistoryEntry } from './history-file.js';

/** The files of one agent. */
export interface AgentFiles {
  dir: string;
  base: string;
  doc: string;
  historyBase: string;
  history: string;
  lock: string;
}

/** Derive the file names of the agent stored at `path`. */
export function agentFiles(path: unknown): AgentFiles {
  const { dir, base, path: doc } = checkFilePath(path);
  const historyBase = `${base}.history.jsonl`;
  return { dir, base, doc, historyBase, history: `${dir}/${historyBase}`, lock: `${dir}/${base}.lock` };
}

/** The document as read: its record text and header. */
export interface DocRecord {
  header: RecordHeader;
  text: string;
}

/** The checksum at the head of the document (a few bytes read), null when there is no document. */
export function peekDocCrc(path: string): string | null | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError('cannot open', path, e);
  }
  try {
    const buf = Buffer.allocUnsafe(CRC_PREFIX_LENGTH);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, 0);
    } catch (e) {
      // EISDIR (the path names a directory: open succeeds, read fails) is a ValidationError
      throw fsError('cannot read', path, e);
    }
    return recordCrc(buf.toString('latin1', 0, n));
  } finally {
    closeSync(fd);
  }
}

/** Read and verify the whole document; null when missing; CorruptionError naming the file when bad. */
export function readDoc(path: string): DocRecord | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError('cannot read', path, e);
  }
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const h = verifyRecord(text);
  if (typeof h === 'string') {
    throw new CorruptionError(`document is corrupt (${h}); earlier versions remain readable with loadAt()/history(), and repair() restores the newest one`, path);
  }
  return { header: h, text };
}

/**
 * With no document, the history may only hold version-1 lines (first saves interrupted before
 * their rename, never acknowledged) and a damaged last line (the torn append of such a save after
 * a power loss). Anything else means the document was lost: CorruptionError.
 */
export function checkMissingDoc(files: AgentFiles): void {
  const lines = readHistoryFile(files.history);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if ('bad' in l ? i < lines.length - 1 : l.header.version > 1) {
      throw new CorruptionError('the document is missing but the history holds saved versions; repair() restores the newest', files.doc);
    }
  }
}

/** What {@link repairFiles} did. */
export interface RepairReport {
  /** The version the document now holds (0 when nothing was ever saved). */
  version: number;
  /** True when the document was rewritten from the history. */
  restored: boolean;
  /** Corrupt history lines set aside. */
  droppedLines: number;
  /** Files moved aside (`<name>.corrupt-<time>`), kept for inspection; never deleted. */
  quarantined: string[];
}

/**
 * Restore a readable document and history (the caller holds the lock). A corrupt or missing
 * document is replaced by the newest valid history entry; corrupt history lines are removed from
 * the live file. Every replaced file is first renamed aside, so nothing is destroyed.
 */
export async function repairFiles(files: AgentFiles, dirFd: number): Promise<RepairReport> {
  const report: RepairReport = { version: 0, restored: false, droppedLines: 0, quarantined: [] };
  const stamp = Date.now();
  const lines = readHistoryFile(files.history);
  const good = lines.filter((l): l is HistoryEntry => !('bad' in l));
  report.droppedLines = lines.length - good.length;
  let doc: DocRecord | null | 'corrupt';
  try {
    doc = readDoc(files.doc);
  } catch (e) {
    if (!(e instanceof CorruptionError)) throw e;
    doc = 'corrupt';
  }
  const onlyAbandonedFirstSaves = good.every((l) => l.header.version <= 1) && report.droppedLines === 0;
  if (doc === 'corrupt' || (doc === null && !onlyAbandonedFirstSaves)) {
    const newest = good[good.length - 1];
    if (!newest) throw new CorruptionError('cannot repair: the document is unreadable and the history holds no valid entry', files.doc);
    if (doc === 'corrupt') report.quarantined.push(moveAside(files.doc, stamp));
    await replaceFileAtomic(files.dir, dirFd, files.base, Buffer.from(newest.text + '\n', 'utf8'));
    report.restored = true;
    report.version = newest.header.version;
  } else {
    report.version = doc === null ? 0 : doc.header.version;
  }
  if (report.droppedLines > 0) {
    // rename aside first, then write the cleaned copy: the original bytes survive a crash here
    const aside = moveAside(files.history, stamp);
    report.quarantined.push(aside);
    const data = Buffer.from(good.map((l) => l.text + '\n').join(''), 'utf8');
    await replaceFileAtomic(files.dir, dirFd, files.historyBase, data);
  }
  return report;
}

function moveAside(path: string, stamp: number): string {
  const to = `${path}.corrupt-${stamp}`;
  try {
    fsLayer.renameSync(path, to);
  } catch (e) {
    throw fsError('cannot move aside', path, e);
  }
  return to;
}
