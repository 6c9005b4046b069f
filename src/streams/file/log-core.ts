/**
 * The open state of one log directory, shared by every {@link FileEventLog} instance of this
 * process over that directory (reference-counted). Sharing is what lets two parts of one program
 * open the same directory: they use one writer, one index and one group-commit queue, while other
 * processes are kept out by the writer lock.
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ClosedError, DgentError } from '../../core/errors.js';
import { pathError } from '../../core/fs-errors.js';
import { acquireFileLock } from '../../core/file-lock.js';
import type { FileLock } from '../../core/file-lock.js';
import type { AppendResult } from '../event-log.js';
import type { StoredEventRef } from '../validate.js';
import { explicitIds, planBatch } from './append-plan.js';
import type { AppendRequest } from './append-plan.js';
import { GroupCommit } from './group-commit.js';
import type { Outcome } from './group-commit.js';
import { writeIndexFile } from './index-file.js';
import { FrameReader } from './reader.js';
import { recover } from './recovery.js';
import type { RecoveryReport } from './recovery.js';
import { listSegments, segmentPath } from './segment.js';
import { SegmentWriter } from './segment-writer.js';
import { StreamIndex } from './stream-index.js';

/** What a core needs from the options (see FileEventLogOptions). */
export interface CoreOptions {
  dir: string;
  segmentSize: number;
  lock: 'fail' | 'wait';
  lockTimeoutMs: number;
  readOnly: boolean;
  cacheBytes: number;
}

/** An opened directory. */
export interface OpenState {
  index: StreamIndex;
  sizes: Map<number, number>;
  reader: FrameReader;
  writer?: SegmentWriter;
  lock?: FileLock;
  report: RecoveryReport;
}

const LOCK_FILE = 'writer.lock';
const shared = new Map<string, LogCore>();
/** close of the last core per directory, which a new core waits for before taking the lock */
const closing = new Map<string, Promise<void>>();

/** One opened log directory. */
export class LogCore {
  private refs = 1;
  private ended = false;
  private opening: Promise<OpenState> | undefined;
  private readonly commits = new GroupCommit<AppendRequest, AppendResult[]>((batch) => this.flush(batch));
  private readonly watchers = new Set<() => void>();

  private constructor(
    private readonly key: string,
    private readonly options: CoreOptions,
  ) {}

  /** The core for `options.dir`: the shared one of this process, or a new one (read-only opens never share). */
  static acquire(options: CoreOptions): LogCore {
    const key = resolve(options.dir);
    if (options.readOnly) return new LogCore(key, options);
    const existing = shared.get(key);
    if (existing) {
      existing.refs++;
      return existing;
    }
    const core = new LogCore(key, options);
    shared.set(key, core);
    return core;
  }

  /** The opened state (opens on first call; a failed open is retried by the next call). */
  ready(): Promise<OpenState> {
    this.opening ??= this.open().catch((e: unknown) => {
      this.opening = undefined;
      throw e;
    });
    return this.opening;
  }

  /** Queue a request for the next group commit. */
  async submit(request: AppendRequest): Promise<AppendResult[]> {
    await this.ready();
    // an append that was waiting for the open while the last instance closed must not write
    if (this.ended) throw new ClosedError(`FileEventLog ${this.options.dir}`);
    return this.commits.submit(request);
  }

  /** Call `wake` after every commit; returns the unregister function. */
  watch(wake: () => void): () => void {
    this.watchers.add(wake);
    return () => this.watchers.delete(wake);
  }

  /** Drop one reference; the last one finishes pending appends, saves the index and releases the lock. */
  async release(): Promise<void> {
    if (--this.refs > 0) return;
    this.ended = true;
    if (shared.get(this.key) === this) shared.delete(this.key);
    const done = this.shutdown();
    if (!this.options.readOnly) closing.set(this.key, done.catch(() => undefined));
    await done;
  }

  private async shutdown(): Promise<void> {
    await this.commits.idle();
    if (!this.opening) return;
    let state: OpenState;
    try {
      state = await this.opening;
    } catch {
      return; // the failed open was reported to its caller; nothing is held
    }
    try {
      if (state.writer) {
        state.writer.check();
        await this.saveIndex(state);
      }
    } finally {
      await state.reader.close();
      await state.writer?.close();
      await state.lock?.release();
    }
  }

  /** Write one batch: plan in order, one write, one fsync, then publish. */
  private async flush(batch: readonly AppendRequest[]): Promise<Outcome<AppendResult[]>[]> {
    const state = await this.ready();
    const writer = state.writer!;
    writer.check();
    if (writer.size >= this.options.segmentSize) {
      await writer.roll();
      state.sizes.set(writer.seg, 0);
      await this.saveIndex(state); // a sealed segment is a good point to refresh the cache
    }
    const stored = await this.lookupIds(state, explicitIds(batch));
    const plan = planBatch(batch, state.index, stored, writer.size, Date.now());
    if (plan.frames.length === 0) return plan.outcomes;
    const start = writer.size;
    await writer.write(Buffer.concat(plan.frames.map((f) => f.frame)));
    let offset = start;
    for (const f of plan.frames) {
      const location = `${segmentPath(this.options.dir, writer.seg)} at offset ${offset}`;
      state.index.addCommit(writer.seg, offset, f.frame.length, f.frame.readUInt32LE(8), f.head, location);
      if (!f.binary) state.reader.remember(state.index.frames.length - 1, f.events);
      offset += f.frame.length;
    }
    state.sizes.set(writer.seg, writer.size);
    for (const wake of this.watchers) wake();
    return plan.outcomes;
  }

  /** The committed events carrying any of `ids` (hash lookup, confirmed by reading the event). */
  private async lookupIds(state: OpenState, ids: readonly string[]): Promise<Map<string, StoredEventRef>> {
    const found = new Map<string, StoredEventRef>();
    for (const id of ids) {
      for (const p of state.index.idCandidates(id)) {
        const fi = state.index.frameIndex(p)!;
        const e = (await state.reader.events(fi, false))[p - state.index.frames[fi]!.first]!;
        if (e.id === id) found.set(id, { stream: e.stream, revision: e.revision, position: e.position });
      }
    }
    return found;
  }

  private async saveIndex(state: OpenState): Promise<void> {
    await writeIndexFile(this.options.dir, state.index, [...state.sizes]);
  }

  private async open(): Promise<OpenState> {
    const { dir, readOnly } = this.options;
    await closing.get(this.key);
    let lock: FileLock | undefined;
    let writer: SegmentWriter | undefined;
    try {
      if (!readOnly) {
        await mkdir(dir, { recursive: true });
        lock = await acquireFileLock(join(dir, LOCK_FILE), { wait: this.options.lock === 'wait', timeoutMs: this.options.lockTimeoutMs });
      }
      let segs = await listSegments(dir);
      if (segs.length === 0 && !readOnly) {
        await SegmentWriter.create(dir, 1);
        segs = [1];
      }
      const { index, sizes, report } =
        segs.length > 0 ? await recover(dir, segs) : { index: new StreamIndex(), sizes: new Map<number, number>(), report: { truncatedBytes: 0, droppedRecords: 0, rebuiltIndex: false } };
      if (!readOnly) {
        const last = segs[segs.length - 1]!;
        writer = await SegmentWriter.open(dir, last, sizes.get(last)!);
        if (report.truncatedBytes > 0) await writer.truncate(sizes.get(last)!);
      }
      const state: OpenState = { index, sizes, writer, lock, report: Object.freeze(report), reader: new FrameReader(dir, () => index, this.options.cacheBytes) };
      if (writer && report.rebuiltIndex && index.head > 0) await this.saveIndex(state);
      return state;
    } catch (e) {
      await writer?.close();
      await lock?.release();
      if (e instanceof DgentError) throw e;
      throw pathError('cannot open', dir, e, 'file event log'); // a path mistake is a ValidationError
    }
  }
}
