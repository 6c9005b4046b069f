/**
 * A simulated power loss for the files we write ourselves, in the manner of SQLite's crash tests
 * (test_vfs / crash testing): every mutating call of the writers goes through {@link PowerLossFs}
 * (installed with `setFsLayer`), which passes it on to the real files, so the running code sees
 * what a live page cache shows, and records what it did. At the crash point it stops the world:
 * from then on every mutating call throws, and no pending fsync completes.
 *
 * {@link PowerLossFs.image} then writes the files a machine would find after the power came back:
 * - file content as of its last completed fsync/fdatasync; after that, each later write is lost,
 *   kept, or torn (the size grew, and each 512-byte sector was written or not on its own, so
 *   writes are also reordered; a lost sector reads as its old bytes, or zeros past the old end),
 *   each truncate kept or not;
 * - directory entries as of the last completed fsync of the directory; after that a random prefix
 *   of the creates, renames and removals (metadata is journaled in order, as on ext4 or XFS). A
 *   rename is therefore durable only once the directory is fsynced, and a renamed file's content
 *   only what was fsynced in it.
 *
 * One directory (`root`) is tracked; files the layer never saw created (lock files, whose holder is
 * stale after a reboot anyway) do not exist in the image.
 */
import { closeSync, constants, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { open as openAsync } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { FsLayer, WriteHandle } from '../../src/core/fs-layer.js';

/** What every mutating call throws once the simulated power is gone. */
export class PowerLost extends Error {
  readonly code = 'EPOWERLOST';
  constructor() {
    super('simulated power loss');
  }
}

type FileOp = { seq: number; kind: 'write'; pos: number; data: Buffer } | { seq: number; kind: 'truncate'; size: number };
type DirOp =
  | { seq: number; kind: 'link'; name: string; ino: number }
  | { seq: number; kind: 'unlink'; name: string; ino: number }
  | { seq: number; kind: 'rename'; from: string; to: string; ino: number };

interface Inode {
  durable: Buffer;
  durableSeq: number;
  ops: FileOp[];
}

/** Deterministic PRNG (mulberry32) so a fast-check counterexample replays exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SECTOR = 512;

/** Counts of what the layer saw, for assertions that the workload did reach the paths under test. */
export interface PowerLossStats {
  mutations: number;
  fileSyncs: number;
  dirSyncs: number;
  renames: number;
}

/** The recording layer over one directory. See the module comment. */
export class PowerLossFs implements FsLayer {
  /** set at the crash point; every mutating call throws from then on */
  crashed = false;
  readonly stats: PowerLossStats = { mutations: 0, fileSyncs: 0, dirSyncs: 0, renames: 0 };
  private seq = 0;
  private readonly inodes = new Map<number, Inode>();
  private dirDurable = new Map<string, number>();
  private dirDurableSeq = 0;
  private dirOps: DirOp[] = [];
  private readonly fds = new Map<number, { ino: number; append: boolean; pos: number } | 'dir'>();
  /** the directory as the running code sees it, name -> file id (real inode numbers are reused, these are not) */
  private readonly live = new Map<string, number>();
  private readonly idOfIno = new Map<number, number>();
  private nextId = 1;
  readonly root: string;

  /** Track `root`: what is in it now is durable. The crash comes at mutating call number `crashAt` (1-based). */
  constructor(root: string, private readonly crashAt: number) {
    this.root = resolve(root);
    for (const name of readdirSync(this.root)) {
      const st = statSync(join(this.root, name));
      if (!st.isFile()) continue;
      const id = this.nextId++;
      this.idOfIno.set(st.ino, id);
      this.inodes.set(id, { durable: readFileSync(join(this.root, name)), durableSeq: 0, ops: [] });
      this.dirDurable.set(name, id);
      this.live.set(name, id);
    }
  }

  /** Crash now (e.g. at the end of a workload that finished before its crash point). */
  crash(): void {
    this.crashed = true;
  }

  private tick(): void {
    if (this.crashed) throw new PowerLost();
    if (++this.stats.mutations >= this.crashAt) {
      this.crashed = true;
      throw new PowerLost();
    }
  }

  private name(path: string): string {
    const abs = resolve(path);
    if (dirname(abs) !== this.root) throw new Error(`power-loss layer tracks ${this.root} only, not ${abs}`);
    return basename(abs);
  }

  private inode(ino: number): Inode {
    const n = this.inodes.get(ino);
    if (!n) throw new Error(`power-loss layer: untracked file (inode ${ino})`);
    return n;
  }

  private created(name: string, realIno: number): number {
    const ino = this.nextId++;
    this.idOfIno.set(realIno, ino);
    this.inodes.set(ino, { durable: Buffer.alloc(0), durableSeq: this.seq, ops: [] });
    this.live.set(name, ino);
    this.dirOps.push({ seq: ++this.seq, kind: 'link', name, ino });
    return ino;
  }

  private idOf(realIno: number): number {
    const id = this.idOfIno.get(realIno);
    if (id === undefined) throw new Error(`power-loss layer: untracked file (inode ${realIno})`);
    return id;
  }

  private wrote(ino: number, pos: number, data: Uint8Array): void {
    this.inode(ino).ops.push({ seq: ++this.seq, kind: 'write', pos, data: Buffer.from(data) });
  }

  private truncated(ino: number, size: number): void {
    this.inode(ino).ops.push({ seq: ++this.seq, kind: 'truncate', size });
  }

  /** Model fsync/fdatasync of `fd`: snapshot now, durable once it completes (if the power holds). */
  private sync(fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void {
    try {
      this.tick();
    } catch (e) {
      setImmediate(() => cb(e as NodeJS.ErrnoException));
      return;
    }
    const seq = ++this.seq;
    const f = this.fds.get(fd);
    if (f === undefined) throw new Error(`power-loss layer: fsync of an untracked descriptor ${fd}`);
    let commit: () => void;
    if (f === 'dir') {
      this.stats.dirSyncs++;
      const entries = new Map(this.live);
      commit = () => {
        if (seq <= this.dirDurableSeq) return;
        this.dirDurable = entries;
        this.dirDurableSeq = seq;
        this.dirOps = this.dirOps.filter((o) => o.seq > seq);
      };
    } else {
      this.stats.fileSyncs++;
      const node = this.inode(f.ino);
      const content = readFileSync(`/proc/self/fd/${fd}`);
      commit = () => {
        if (seq <= node.durableSeq) return;
        node.durable = content;
        node.durableSeq = seq;
        node.ops = node.ops.filter((o) => o.seq > seq);
      };
    }
    // completing is a crash point of its own: power lost before fsync returned = not durable
    setImmediate(() => {
      try {
        this.tick();
      } catch (e) {
        cb(e as NodeJS.ErrnoException);
        return;
      }
      commit();
      cb(null);
    });
  }

  private syncAsync(fd: number): Promise<void> {
    return new Promise((res, rej) => this.sync(fd, (e) => (e ? rej(e) : res())));
  }

  openSync(path: string, flags: string | number, mode?: number): number {
    if (resolve(path) === this.root) {
      const fd = openSync(path, flags, mode);
      this.fds.set(fd, 'dir');
      return fd;
    }
    const name = this.name(path);
    const f = typeof flags === 'number' ? flags : flagBits(flags);
    const creates = (f & constants.O_CREAT) !== 0;
    const before = statSync(path, { throwIfNoEntry: false });
    if (creates && (!before || (f & constants.O_TRUNC) !== 0)) this.tick();
    const fd = openSync(path, flags, mode);
    const real = fstatSync(fd).ino;
    const ino = before ? this.idOf(real) : this.created(name, real);
    if (before && (f & constants.O_TRUNC) !== 0 && before.size > 0) this.truncated(ino, 0);
    this.fds.set(fd, { ino, append: (f & constants.O_APPEND) !== 0, pos: 0 });
    return fd;
  }

  closeSync(fd: number): void {
    this.fds.delete(fd);
    closeSync(fd);
  }

  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number {
    this.tick();
    const f = this.fds.get(fd);
    if (!f || f === 'dir') throw new Error(`power-loss layer: write to an untracked descriptor ${fd}`);
    const n = writeSync(fd, buf, offset, length, position);
    let at: number;
    if (position !== null) at = position;
    else if (f.append) at = fstatSync(fd).size - n;
    else {
      at = f.pos;
      f.pos += n;
    }
    this.wrote(f.ino, at, buf.subarray(offset, offset + n));
    return n;
  }

  ftruncateSync(fd: number, len: number): void {
    this.tick();
    const f = this.fds.get(fd);
    if (!f || f === 'dir') throw new Error(`power-loss layer: truncate of an untracked descriptor ${fd}`);
    ftruncateSync(fd, len);
    this.truncated(f.ino, len);
  }

  renameSync(from: string, to: string): void {
    this.tick();
    const a = this.name(from);
    const b = this.name(to);
    const ino = this.idOf(statSync(from).ino);
    renameSync(from, to);
    this.live.delete(a);
    this.live.set(b, ino);
    this.stats.renames++;
    this.dirOps.push({ seq: ++this.seq, kind: 'rename', from: a, to: b, ino });
  }

  unlinkSync(path: string): void {
    this.tick();
    const name = this.name(path);
    const st = statSync(path, { throwIfNoEntry: false });
    unlinkSync(path);
    if (st) {
      const ino = this.idOf(st.ino);
      this.live.delete(name);
      this.dirOps.push({ seq: ++this.seq, kind: 'unlink', name, ino });
    }
  }

  mkdirSync(path: string, options: { recursive: true }): void {
    if (resolve(path) !== this.root) mkdirSync(path, options); // the tracked directory exists already
  }

  fsync(fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void {
    this.sync(fd, cb);
  }

  fdatasync(fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void {
    this.sync(fd, cb);
  }

  async open(path: string, flags: string): Promise<WriteHandle> {
    if (resolve(path) === this.root) {
      const fh = await openAsync(path, flags);
      this.fds.set(fh.fd, 'dir');
      return this.handle(fh, undefined);
    }
    const name = this.name(path);
    const f = flagBits(flags);
    const before = statSync(path, { throwIfNoEntry: false });
    if ((f & constants.O_CREAT) !== 0 && (!before || (f & constants.O_TRUNC) !== 0)) this.tick();
    const fh = await openAsync(path, flags);
    const real = (await fh.stat()).ino;
    const ino = before ? this.idOf(real) : this.created(name, real);
    if (before && (f & constants.O_TRUNC) !== 0 && before.size > 0) this.truncated(ino, 0);
    this.fds.set(fh.fd, { ino, append: false, pos: 0 });
    return this.handle(fh, ino);
  }

  private handle(fh: import('node:fs/promises').FileHandle, ino: number | undefined): WriteHandle {
    const fd = fh.fd;
    const mustFile = (): number => {
      if (ino === undefined) throw new Error('power-loss layer: write to a directory handle');
      return ino;
    };
    const h = {
      fd,
      write: async (buf: Uint8Array, offset: number, length: number, position: number) => {
        this.tick();
        const r = await fh.write(buf, offset, length, position);
        this.wrote(mustFile(), position, buf.subarray(offset, offset + r.bytesWritten));
        return r;
      },
      writeFile: async (data: string, encoding: BufferEncoding) => {
        this.tick();
        const bytes = Buffer.from(data, encoding);
        await fh.writeFile(bytes);
        this.wrote(mustFile(), 0, bytes);
      },
      datasync: () => this.syncAsync(fd),
      sync: () => this.syncAsync(fd),
      truncate: async (len: number) => {
        this.tick();
        await fh.truncate(len);
        this.truncated(mustFile(), len);
      },
      close: async () => {
        this.fds.delete(fd);
        await fh.close();
      },
    };
    return h as unknown as WriteHandle;
  }

  async rename(from: string, to: string): Promise<void> {
    this.renameSync(from, to);
  }

  async unlink(path: string): Promise<void> {
    this.unlinkSync(path);
  }

  /**
   * Write into the empty directory `target` the files this directory would hold after the power
   * loss, tearing what was not durable with the randomness `random`. Returns how many files came
   * out different from the live view (torn, reverted or missing), for assertions on coverage.
   */
  image(target: string, random: () => number): { changed: number } {
    const entries = new Map(this.dirDurable);
    const pending = this.dirOps.filter((o) => o.seq > this.dirDurableSeq);
    const keep = Math.floor(random() * (pending.length + 1));
    for (const o of pending.slice(0, keep)) {
      if (o.kind === 'link') entries.set(o.name, o.ino);
      else if (o.kind === 'unlink') {
        if (entries.get(o.name) === o.ino) entries.delete(o.name);
      } else {
        if (entries.get(o.from) === o.ino) entries.delete(o.from);
        entries.set(o.to, o.ino);
      }
    }
    let changed = pending.length > keep ? 1 : 0;
    for (const [name, ino] of entries) {
      const node = this.inode(ino);
      let buf = node.durable;
      for (const op of node.ops) {
        if (op.seq <= node.durableSeq) continue;
        changed++;
        if (op.kind === 'truncate') {
          if (random() < 0.5) buf = resize(buf, op.size);
          continue;
        }
        // lost (the old bytes, and the old size), kept whole, or torn: the size update made it
        // and each sector on its own did or did not (a lost sector past the old end reads zeros)
        const mode = random();
        if (mode < 0.2) continue;
        const whole = mode < 0.5;
        const end = op.pos + op.data.length;
        const out = Buffer.from(end > buf.length ? resize(buf, end) : buf);
        for (let s = Math.floor(op.pos / SECTOR) * SECTOR; s < end; s += SECTOR) {
          const from = Math.max(s, op.pos);
          const to = Math.min(s + SECTOR, end);
          if (whole || random() < 0.5) op.data.copy(out, from, from - op.pos, to - op.pos);
        }
        buf = out;
      }
      writeFileSync(join(target, name), buf);
    }
    return { changed };
  }
}

function resize(buf: Buffer, size: number): Buffer {
  if (size <= buf.length) return buf.subarray(0, size);
  const out = Buffer.alloc(size);
  buf.copy(out);
  return out;
}

function flagBits(flags: string): number {
  const c = constants;
  switch (flags) {
    case 'r':
      return c.O_RDONLY;
    case 'r+':
      return c.O_RDWR;
    case 'w':
      return c.O_WRONLY | c.O_CREAT | c.O_TRUNC;
    case 'wx':
      return c.O_WRONLY | c.O_CREAT | c.O_EXCL;
    case 'a':
      return c.O_WRONLY | c.O_CREAT | c.O_APPEND;
    default:
      throw new Error(`power-loss layer: flags ${flags} not modelled`);
  }
}
