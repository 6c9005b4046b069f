/**
 * PersistentAgent: one agent's state in a JSON document on disk, with an append-only history.
 *
 * A save takes a cross-process lock file, checks the expected version against the document,
 * appends the new record to `<path>.history.jsonl`, writes the document to a temp file, fsyncs
 * it (and the history, concurrently), renames it over `<path>` and fsyncs the directory. A save
 * that resolved survives `kill -9` and power loss; a killed save leaves the old state, and its
 * leftovers are cleared by the next writer. Corrupt files raise CorruptionError naming the file,
 * never a silent fresh start; {@link PersistentAgent.repair} restores from the history.
 *
 * @example
 * ```ts
 * const agent = new PersistentAgent<{ turns: string[] }>({ path: './memory/agent.json', initial: { turns: [] } });
 * await agent.update((s) => { s.turns.push('hello'); });
 * const past = await agent.loadAt({ version: 1 });
 * ```
 */
import { LRUCache } from 'lru-cache';
import { encode, prepare, TAG_MARK } from '../core/codec.js';
import { ConcurrencyError, CorruptionError, ValidationError, shown } from '../core/errors.js';
import { acquireFileLock, type FileLockOptions } from '../core/file-lock.js';
import { ensureParentDir } from '../core/fs-errors.js';
import { fsError, openDirSync, removeTempFiles, replaceFileAtomic } from '../core/atomic-file.js';
import { fsLayer } from '../core/fs-layer.js';
import { Mutex } from '../core/mutex.js';
import { toMs } from '../core/ids.js';
import { latestSchemaVersion, migrate, validateWith, type Migrations, type StandardSchemaV1 } from '../core/schema.js';
import type { LoadAtTarget } from './data-agent.js';
import { VersionedAgent, type Snapshot, type VersionedAgentOptions } from './versioned-agent.js';
import { agentFiles, checkMissingDoc, peekDocCrc, readDoc, repairFiles, type AgentFiles, type RepairReport } from './persistent/document.js';
import { committedNewestFirst, HistoryWriter, readHistoryFile } from './persistent/history-file.js';
import { decodeRecordState, encodeRecordLine, type RecordHeader } from './persistent/record.js';

/** Options of {@link PersistentAgent}. */
export interface PersistentAgentOptions<S> extends VersionedAgentOptions<S> {
  /** The document's path. Companion files sit beside it: `<path>.history.jsonl`, `<path>.lock`. */
  path: string;
  /** Standard Schema validator (zod 4, valibot, ...) applied on save and on load. */
  schema?: StandardSchemaV1<unknown, S> | undefined;
  /** Numbered migrations applied on read to records stored at an older schema version. */
  migrations?: Migrations | undefined;
  /**
   * How many versions `history()` and `loadAt()` keep (default 1000; `Infinity` keeps all). The
   * history file is compacted atomically once it holds half as many lines again (at least 64
   * more), never on every save.
   */
  retention?: number | undefined;
  /** Lock behaviour when another process is saving: wait (default, up to 10 s) or fail fast with LockedError. */
  lock?: Pick<FileLockOptions, 'wait' | 'timeoutMs'> | undefined;
}

/** The default of {@link PersistentAgentOptions.retention}. */
export const DEFAULT_RETENTION = 1000;

interface Cached<S> {
  crc: string;
  snap: Snapshot<S>;
  binary: boolean;
}

/** File-backed agent: atomic document, append-only checksummed history, cross-process lock and OCC. */
export class PersistentAgent<S> extends VersionedAgent<S> {
  /** The files this agent uses. */
  readonly files: AgentFiles;
  private readonly schema: StandardSchemaV1<unknown, S> | undefined;
  private readonly migrations: Migrations | undefined;
  private readonly schemaVersion: number;
  private readonly retention: number;
  private readonly lockOptions: FileLockOptions;
  private readonly writes = new Mutex();
  private readonly writer: HistoryWriter;
  /** decoded records by `version:crc`, so time travel does not decode the same line again */
  private readonly decoded = new LRUCache<string, Cached<S>>({ max: 64 });
  private cache: Cached<S> | undefined;
  private dirFd = -1;
  private tempsCleared = false;

  constructor(options: PersistentAgentOptions<S>) {
    super(options);
    this.files = agentFiles(options.path);
    this.schema = options.schema;
    this.migrations = options.migrations;
    this.schemaVersion = latestSchemaVersion(options.migrations);
    const r = options.retention ?? DEFAULT_RETENTION;
    if (!(r === Infinity || (Number.isInteger(r) && r >= 1))) throw new ValidationError(`retention must be an integer >= 1 or Infinity, got ${shown(r)}`);
    this.retention = r;
    this.lockOptions = { wait: options.lock?.wait ?? true, timeoutMs: options.lock?.timeoutMs ?? 10_000 };
    this.writer = new HistoryWriter(this.files.history, this.files.dir, this.files.historyBase);
  }

  protected override describe(): string {
    return `PersistentAgent(${this.files.doc})`;
  }

  /** Decode a verified record: migrate, validate, freeze. */
  private materialise(header: RecordHeader, text: string, location: string): Cached<S> {
    const key = `${header.version}:${header.crc}`;
    const hit = this.decoded.get(key);
    if (hit) return hit;
    let state = decodeRecordState(text, location);
    if (header.schemaVersion !== this.schemaVersion) state = migrate(state, header.schemaVersion, this.migrations);
    if (this.schema) state = validateWith(this.schema, state, `${location} version ${header.version}`);
    const p = prepare(state as S);
    const c: Cached<S> = { crc: header.crc, snap: { state: p.value, version: header.version, time: new Date(header.time) }, binary: p.hasBinary };
    this.decoded.set(key, c);
    return c;
  }

  private out(c: Cached<S>): Snapshot<S> {
    // Uint8Array cannot be frozen: hand out a copy so callers cannot reach the cached bytes
    return c.binary ? { ...c.snap, state: prepare(c.snap.state).value } : c.snap;
  }

  /** The document, via the cache when its checksum is unchanged; undefined when never saved. */
  private currentCached(): Cached<S> | undefined {
    const crc = peekDocCrc(this.files.doc);
    if (crc === null) {
      checkMissingDoc(this.files);
      return undefined;
    }
    if (this.cache && crc === this.cache.crc) return this.cache;
    const doc = readDoc(this.files.doc);
    if (!doc) return this.currentCached();
    this.cache = this.materialise(doc.header, doc.text, this.files.doc);
    return this.cache;
  }

  protected async current(): Promise<Snapshot<S> | undefined> {
    const c = this.currentCached();
    return c && this.out(c);
  }

  /** The document's header under the lock (no decode when unchanged). */
  private headNow(): RecordHeader | undefined {
    const crc = peekDocCrc(this.files.doc);
    if (crc === null) {
      checkMissingDoc(this.files);
      return undefined;
    }
    if (this.cache && crc === this.cache.crc) return { crc, version: this.cache.snap.version, time: this.cache.snap.time.getTime(), schemaVersion: this.schemaVersion };
    return readDoc(this.files.doc)?.header;
  }

  private dir(): number {
    if (this.dirFd < 0) {
      try {
        this.dirFd = openDirSync(this.files.dir);
      } catch (e) {
        if ((e as { code?: string }).code !== 'ENOENT') throw fsError('cannot open directory', this.files.dir, e);
        // the first save creates the directory (and its parents), as the event logs do
        ensureParentDir(this.files.doc);
        this.dirFd = openDirSync(this.files.dir);
      }
    }
    return this.dirFd;
  }

  protected write(state: S, expectedVersion: number | undefined, hasBinary?: boolean): Promise<Snapshot<S>> {
    // validate and encode before taking the lock: bad input never touches the files
    const validated = this.schema ? prepare(validateWith(this.schema, state)) : undefined;
    const value = validated ? validated.value : state;
    const knownBinary = validated ? validated.hasBinary : hasBinary;
    const stateText = encode(value);
    return this.writes.run(async () => {
      this.assertOpen();
      const dirFd = this.dir();
      const lock = await acquireFileLock(this.files.lock, this.lockOptions);
      try {
        if (!this.tempsCleared || lock.stolen) {
          removeTempFiles(this.files.dir, this.files.base);
          removeTempFiles(this.files.dir, this.files.historyBase);
          this.tempsCleared = true;
        }
        const head = this.headNow();
        const actual = head?.version ?? 0;
        if (expectedVersion !== undefined && expectedVersion !== actual) throw new ConcurrencyError(expectedVersion, actual, this.describe());
        const version = actual + 1;
        const time = Math.max(Date.now(), head?.time ?? 0); // history times never go backwards
        const { line, crc } = encodeRecordLine(version, time, this.schemaVersion, stateText);
        this.writer.sync();
        if (this.writer.lines >= this.retention + Math.max(64, Math.floor(this.retention / 2))) {
          // keep `retention` committed entries, not one fewer: if this save then fails (a crash before its rename), the
          // history still holds every version history() promised before it
          await this.writer.compact(this.retention, actual, dirFd);
        }
        this.writer.append(line);
        await replaceFileAtomic(this.files.dir, dirFd, this.files.base, line, () => this.writer.datasync());
        // `value` is prepared already (by save/update, or above with a schema), and that prepare
        // usually told whether it holds bytes; when it did not, only a state whose text holds a
        // tagged value can, so most saves skip a second walk either way
        const binary = knownBinary ?? (stateText.includes(TAG_MARK) && prepare(value).hasBinary);
        this.cache = { crc, snap: { state: value, version, time: new Date(time) }, binary };
        return this.out(this.cache);
      } finally {
        lock.releaseSync();
      }
    });
  }

  /** Newest-first committed snapshots, at most `limit` and at most `retention`, the document first. */
  private *walk(limit: number): Generator<Cached<S>> {
    let doc: Cached<S> | undefined;
    let ceiling = Number.POSITIVE_INFINITY;
    try {
      doc = this.currentCached();
      ceiling = doc ? doc.snap.version - 1 : 0;
    } catch (e) {
      // a corrupt document must not hide the history: walk the history file alone
      if (!(e instanceof CorruptionError)) throw e;
    }
    const n = Math.min(limit, this.retention);
    if (n <= 0) return;
    let count = 0;
    if (doc) {
      yield doc;
      if (++count >= n) return;
    }
    if (ceiling <= 0) return;
    // stop pulling as soon as enough are yielded: a corrupt line further back must not fail this read
    for (const e of committedNewestFirst(readHistoryFile(this.files.history), ceiling, this.files.history)) {
      yield this.materialise(e.header, e.text, `${this.files.history} line ${e.lineNo}`);
      if (++count >= n) return;
    }
  }

  protected async readHistory(limit: number): Promise<Snapshot<S>[]> {
    return [...this.walk(limit)].map((c) => this.out(c));
  }

  protected async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    const t = 'time' in target ? toMs(target.time) : undefined;
    for (const c of this.walk(Number.MAX_SAFE_INTEGER)) {
      if (t === undefined ? c.snap.version === (target as { version: number }).version : c.snap.time.getTime() <= t) return this.out(c);
      if (t === undefined && c.snap.version < (target as { version: number }).version) return undefined;
    }
    return undefined;
  }

  /**
   * Restore a readable state after corruption: a corrupt or missing document is replaced by the
   * newest valid history entry, corrupt history lines are removed from the live history. The
   * damaged files are renamed to `<name>.corrupt-<time>` and kept. Runs under the lock.
   */
  repair(): Promise<RepairReport> {
    return this.writes.run(async () => {
      this.assertOpen();
      const dirFd = this.dir();
      const lock = await acquireFileLock(this.files.lock, this.lockOptions);
      try {
        const report = await repairFiles(this.files, dirFd);
        this.cache = undefined;
        return report;
      } finally {
        lock.releaseSync();
      }
    });
  }

  override async close(): Promise<void> {
    await this.writes.run(async () => {
      await super.close();
      this.writer.close();
      if (this.dirFd >= 0) fsLayer.closeSync(this.dirFd);
      this.dirFd = -1;
    });
  }
}

export type { RepairReport } from './persistent/document.js';
