/**
 * ProjectionRunner: runs projections over an event log, inline (inside every append's
 * transaction) or async (a leased subscription from the stored checkpoint), and rebuilds them
 * blue-green. The projections stay plain objects; checkpoints, batching, leases and rebuilds are here.
 *
 * @example
 * ```ts
 * import { MemoryEventLog, MemoryViewStorage, ProjectionRunner, defineProjection } from 'dgent';
 * const log = new MemoryEventLog();
 * const views = new MemoryViewStorage();
 * const runner = new ProjectionRunner({ log, storage: views, projections: [counts] });
 * await runner.start();
 * await log.append('chat-1', [{ type: 'UserSaid', data: {} }]);
 * await runner.whenCaughtUp();
 * console.log(await runner.status(), views.map('type_counts', 'counts'));
 * await runner.rebuild('type_counts', { onProgress: (p) => console.log(p.processed, p.total) });
 * await runner.close();
 * ```
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { BackendUnavailableError, ClosedError, ValidationError, shown } from '../../core/errors.js';
import { isInlineProjectionHost, type EventLog, type InlineProjectionHost } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import type { ViewStorage } from '../view-storage.js';
import { AsyncWorker } from './async-worker.js';
import { isStorageDriver, type StorageDriver } from './driver.js';
import { InlineGroup, type InlineEntry } from './inline-group.js';
import { headPosition, lagAfter } from './log-head.js';
import { Pause } from './backoff.js';
import type { ProjectionMode, ProjectionRegistration, ProjectionRunnerOptions, ProjectionStatus, RebuildOptions, WhenCaughtUpOptions } from './types.js';

interface Resolved {
  projection: Projection<any>;
  mode: ProjectionMode;
  driver: StorageDriver;
}

const LAG_CAP = 10_000;

function positiveInt(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ValidationError(`ProjectionRunner: ${what} must be an integer >= 1, got ${shown(v)}`);
  return v;
}

/** See the file comment. */
export class ProjectionRunner {
  readonly owner: string;
  private readonly log: EventLog;
  private readonly resolved: Resolved[];
  private readonly workers = new Map<string, AsyncWorker>();
  private readonly inline = new Map<string, { group: InlineGroup; entry: InlineEntry }>();
  private readonly groups: InlineGroup[] = [];
  private readonly pause = new Pause();
  private started: Promise<void> | undefined;
  private closed = false;

  constructor(options: ProjectionRunnerOptions) {
    const o = options ?? ({} as ProjectionRunnerOptions);
    if (!o.log || typeof o.log.readAll !== 'function') throw new ValidationError('ProjectionRunner needs `log`, an EventLog');
    if (!Array.isArray(o.projections) || o.projections.length === 0) throw new ValidationError('ProjectionRunner needs at least one projection');
    this.log = o.log;
    const batchSize = positiveInt(o.batchSize, 'batchSize', 500);
    const batchMs = positiveInt(o.batchMs, 'batchMs', 20);
    const leaseMs = positiveInt(o.leaseMs, 'leaseMs', 10_000);
    const maxBackoffMs = positiveInt(o.maxBackoffMs, 'maxBackoffMs', 5_000);
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
    this.resolved = o.projections.map((r) => this.resolve(r, o.storage));
    const names = new Set<string>();
    for (const r of this.resolved) {
      if (names.has(r.projection.name)) throw new ValidationError(`ProjectionRunner: projection ${r.projection.name} is registered twice`);
      names.add(r.projection.name);
    }
    const settings = { log: this.log, owner: this.owner, batchSize, batchMs, leaseMs, maxBackoffMs };
    const byDriver = new Map<StorageDriver, Projection<any>[]>();
    for (const r of this.resolved) {
      if (r.mode === 'async') this.workers.set(r.projection.name, new AsyncWorker(r.projection, r.driver, settings));
      else byDriver.set(r.driver, [...(byDriver.get(r.driver) ?? []), r.projection]);
    }
    for (const [driver, list] of byDriver) {
      const group = new InlineGroup(this.log as EventLog & InlineProjectionHost, driver, list, settings);
      this.groups.push(group);
      for (const entry of group.entries) this.inline.set(entry.projection.name, { group, entry });
    }
  }

  /** Set up storages and generations, attach inline hooks (building views never built), start async runners. Idempotent. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError('ProjectionRunner'));
    this.started ??= (async () => {
      for (const d of new Set(this.resolved.map((r) => r.driver))) await d.init();
      for (const g of this.groups) await g.start();
      for (const w of this.workers.values()) w.start();
    })();
    return this.started;
  }

  /** One status per projection (or the named one only). */
  async status(name?: string): Promise<ProjectionStatus[]> {
    const out: ProjectionStatus[] = [];
    for (const r of this.resolved) {
      if (name !== undefined && r.projection.name !== name) continue;
      const w = this.workers.get(r.projection.name);
      const i = this.inline.get(r.projection.name)?.entry;
      // during an outage of the storage, report what this runner knows instead of failing
      const ctl = await r.driver.control(r.projection.name).catch(() => (w ? { position: w.position, generation: w.generation, version: w.version } : undefined));
      const position = ctl?.position ?? 0;
      const lag = await lagAfter(this.log, position, LAG_CAP).catch(() => ({ events: 0, oldest: undefined }));
      let state = w ? w.state : i!.state;
      if (w && (state === 'catching_up' || state === 'running')) state = lag.events === 0 ? 'running' : 'catching_up';
      out.push({
        name: r.projection.name,
        mode: r.mode,
        state,
        position,
        lagEvents: lag.events,
        lagMs: lag.oldest ? Math.max(0, Date.now() - lag.oldest.getTime()) : 0,
        generation: ctl?.generation ?? 0,
        version: ctl?.version ?? 0,
        leader: w ? w.leader : true,
        lastError: w ? w.lastError : i!.lastError,
      });
    }
    if (name !== undefined && out.length === 0) throw new ValidationError(`no projection named ${name}`);
    return out;
  }

  /**
   * Resolves once every (or the named) projection's checkpoint reached `position` (default: the
   * log's head now). Rejects with the projection's error when it failed, BackendUnavailableError
   * after `timeoutMs` (default 30 000).
   */
  async whenCaughtUp(options: WhenCaughtUpOptions = {}): Promise<void> {
    await this.start();
    const target = options.position ?? (await headPosition(this.log));
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const list = this.resolved.filter((r) => options.name === undefined || r.projection.name === options.name);
    if (list.length === 0) throw new ValidationError(`no projection named ${String(options.name)}`);
    for (const r of list) {
      for (;;) {
        const w = this.workers.get(r.projection.name);
        if (w?.state === 'failed') throw w.lastError?.error ?? new Error(`projection ${r.projection.name} failed`);
        const ctl = await r.driver.control(r.projection.name);
        if (ctl && ctl.version === r.projection.version && ctl.position >= target) break;
        if (this.closed) throw new ClosedError('ProjectionRunner');
        if (Date.now() > deadline) throw new BackendUnavailableError(r.driver.kind, `projection ${r.projection.name} did not reach position ${target} in ${options.timeoutMs ?? 30_000} ms (at ${ctl?.position ?? 0})`);
        await this.pause.sleep(10);
      }
    }
  }

  /**
   * Rebuild `name` into a new generation from position 0 while the active one serves and appends
   * continue, then switch atomically. Async projections: only the lease holder can (LockedError
   * on a standby); inline: LockedError while another process rebuilds it.
   */
  async rebuild(name: string, options: RebuildOptions = {}): Promise<void> {
    await this.start();
    const w = this.workers.get(name);
    if (w) return w.rebuild(options);
    const i = this.inline.get(name);
    if (!i) throw new ValidationError(`no projection named ${name}`);
    return i.group.rebuild(i.entry, options);
  }

  /**
   * Stop every projection (async ones commit what they buffered), release leases, detach hooks.
   * The log and the storages stay open: they are yours to close. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pause.wake();
    await this.started?.catch(() => undefined);
    await Promise.all([...this.workers.values()].map((w) => w.close()));
    await Promise.all(this.groups.map((g) => g.close()));
  }

  private resolve(r: Projection<any> | ProjectionRegistration<any>, fallback: ViewStorage | undefined): Resolved {
    const reg: ProjectionRegistration<any> = 'projection' in r && typeof (r as ProjectionRegistration).projection === 'object' ? (r as ProjectionRegistration) : { projection: r as Projection<any> };
    const p = reg.projection;
    if (!p || typeof p.apply !== 'function' || typeof p.name !== 'string') throw new ValidationError('ProjectionRunner: every projection must come from defineProjection');
    const storage = reg.storage ?? fallback;
    if (!storage) throw new ValidationError(`ProjectionRunner: projection ${p.name} has no storage (pass storage)`);
    if (!isStorageDriver(storage)) throw new ValidationError(`ProjectionRunner: the storage of ${p.name} is not a dgent view storage`);
    if (p.storages && !p.storages.includes(storage.kind)) throw new ValidationError(`ProjectionRunner: projection ${p.name} does not support ${storage.kind} storage (only ${p.storages.join(', ')})`);
    const canInline = isInlineProjectionHost(this.log) && storage.inline !== undefined && storage.hostsInline(this.log);
    const mode = reg.mode ?? (canInline ? 'inline' : 'async');
    if (mode !== 'inline' && mode !== 'async') throw new ValidationError(`ProjectionRunner: mode must be 'inline' or 'async', got ${shown(mode)}`);
    if (mode === 'inline' && !canInline) {
      throw new ValidationError(`ProjectionRunner: ${p.name} cannot run inline: inline views live on the log's own backend (memory, SQLite file, PostgreSQL database) and ${storage.kind} storage here is not; use mode 'async'`);
    }
    return { projection: p, mode, driver: storage };
  }
}
