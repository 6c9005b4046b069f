/**
 * The file-system calls that change durable state, behind one internal object, so that the
 * power-loss tests can record every write, fsync, rename and directory fsync of the file writers
 * (PersistentAgent, FileEventLog, the vector index file) and build the files a crash would leave.
 *
 * Internal: not exported from the package. Production code calls `fsLayer.x(...)`: one property
 * load more than calling `x` directly, no allocation. Reads do not go through it (a crashed
 * writer's files read the same before the crash), only calls that create, write, sync, truncate,
 * rename or remove.
 */
import { closeSync, fdatasync, fsync, ftruncateSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';

/** The part of a FileHandle the writers use. */
export type WriteHandle = Pick<FileHandle, 'fd' | 'write' | 'writeFile' | 'datasync' | 'sync' | 'truncate' | 'close'>;

/** The mutating file-system calls of the writers (node's own signatures, narrowed to what is used). */
export interface FsLayer {
  openSync(path: string, flags: string | number, mode?: number): number;
  closeSync(fd: number): void;
  writeSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number | null): number;
  ftruncateSync(fd: number, len: number): void;
  renameSync(from: string, to: string): void;
  unlinkSync(path: string): void;
  mkdirSync(path: string, options: { recursive: true }): void;
  fsync(fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void;
  fdatasync(fd: number, cb: (e: NodeJS.ErrnoException | null) => void): void;
  /** open a file for writing (or a directory, flags 'r', to sync it) */
  open(path: string, flags: string): Promise<WriteHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
}

/** node:fs itself. */
export const nodeFs: FsLayer = {
  openSync,
  closeSync,
  writeSync,
  ftruncateSync,
  renameSync,
  unlinkSync,
  mkdirSync: (path, options) => void mkdirSync(path, options),
  fsync,
  fdatasync,
  open,
  rename,
  unlink,
};

/** The layer in use (a live binding: tests swap it with {@link setFsLayer}). */
export let fsLayer: FsLayer = nodeFs;

/** Testing only: route the writers' file-system calls through `layer`; returns the restore function. */
export function setFsLayer(layer: FsLayer): () => void {
  const before = fsLayer;
  fsLayer = layer;
  return () => {
    fsLayer = before;
  };
}
