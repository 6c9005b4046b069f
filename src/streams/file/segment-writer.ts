/**
 * The writing end of a log: the active segment, one write plus one fdatasync per batch, and
 * rolling to a new segment between batches (so a batch never spans two files and every sealed
 * segment was fully synced before the next one was created).
 *
 * A failed write is cut back off the file; a failed fsync leaves the file's durable state unknown,
 * so the writer refuses further writes until the log is reopened and recovery has run (retrying an
 * fsync after a failure can report success for data the kernel already dropped).
 */
import { BackendUnavailableError } from '../../core/errors.js';
import { fsLayer } from '../../core/fs-layer.js';
import type { WriteHandle } from '../../core/fs-layer.js';
import { syncDir } from './index-file.js';
import { segmentPath } from './segment.js';

/** Appends frames to the active segment. */
export class SegmentWriter {
  private broken: Error | undefined;

  private constructor(
    private readonly dir: string,
    private fh: WriteHandle,
    /** number of the active segment */
    public seg: number,
    /** valid bytes in the active segment = where the next frame goes */
    public size: number,
  ) {}

  /** Open segment `seg` for appending at `size` (which recovery established). */
  static async open(dir: string, seg: number, size: number): Promise<SegmentWriter> {
    return new SegmentWriter(dir, await fsLayer.open(segmentPath(dir, seg), 'r+'), seg, size);
  }

  /**
   * Create a new, empty segment `seg` and sync its directory entry. The file itself is not
   * fsynced: it is empty, and the directory fsync makes it exist; its frames are made durable by
   * the fdatasync of each batch (the power-loss test shows an fsync here protected nothing).
   */
  static async create(dir: string, seg: number): Promise<void> {
    await (await fsLayer.open(segmentPath(dir, seg), 'wx')).close();
    await syncDir(dir);
  }

  /** Cut the active segment to `size` bytes, durably (recovery of a torn tail). */
  async truncate(size: number): Promise<void> {
    await this.fh.truncate(size);
    await this.fh.datasync();
    this.size = size;
  }

  /** Throw when a previous failure made the segment's state unknown. */
  check(): void {
    if (this.broken) throw new BackendUnavailableError('file event log', `an earlier write failed (${this.broken.message}); close and reopen the log to recover`, { cause: this.broken });
  }

  /** Write `data` at the end of the active segment and fdatasync it. */
  async write(data: Buffer): Promise<void> {
    this.check();
    const at = this.size;
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.fh.write(data, done, data.length - done, at + done);
        done += bytesWritten;
      }
    } catch (e) {
      await this.fh.truncate(at).catch((te: unknown) => {
        this.broken = te as Error;
      });
      throw new BackendUnavailableError('file event log', `write to ${segmentPath(this.dir, this.seg)} failed: ${(e as Error).message}`, { cause: e });
    }
    try {
      await this.fh.datasync();
    } catch (e) {
      this.broken = e as Error;
      throw new BackendUnavailableError('file event log', `fsync of ${segmentPath(this.dir, this.seg)} failed: ${(e as Error).message}`, { cause: e });
    }
    this.size = at + data.length;
  }

  /** Seal the active segment and continue in a new one. */
  async roll(): Promise<void> {
    this.check();
    const next = this.seg + 1;
    await SegmentWriter.create(this.dir, next);
    const fh = await fsLayer.open(segmentPath(this.dir, next), 'r+');
    await this.fh.close();
    this.fh = fh;
    this.seg = next;
    this.size = 0;
  }

  /** Close the active segment. */
  async close(): Promise<void> {
    await this.fh.close();
  }
}
