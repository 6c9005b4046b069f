/**
 * The inline projections of one storage: one `onAppend` hook applies them all inside the append's
 * transaction (a throw aborts the append), and rebuilds run under the projection's lease (so two
 * processes never build the same projection at once).
 */
import { LockedError, ValidationError } from '../../core/errors.js';
import type { AppendTransaction, EventLog, InlineProjectionHost, RecordedEvent } from '../../streams/event-log.js';
import { handlesType, type Projection } from '../projection.js';
import { Pause } from './backoff.js';
import type { RetryPolicy } from './batch.js';
import type { ControlRow, Fence, InlineItem, StorageDriver } from './driver.js';
import { rebuild } from './rebuild.js';
import { headPosition } from './log-head.js';
import type { ProjectionError, ProjectionState, RebuildOptions } from './types.js';

/** One inline projection's state in this runner. */
export class InlineEntry {
  state: ProjectionState = 'stopped';
  lastError: ProjectionError | undefined;
  rebuilding: Promise<void> | undefined;
  /** the projection as given to the storage: errors thrown by apply are recorded here first */
  readonly wrapped: Projection<any>;

  constructor(readonly projection: Projection<any>) {
    const entry = this;
    this.wrapped = Object.freeze({
      ...projection,
      // synchronous when the projection is: the SQLite log then runs its hooks without a microtask in the transaction
      apply(events: readonly RecordedEvent[], ctx: never): void | Promise<void> {
        const record = (e: unknown): never => {
          entry.lastError = { position: events[0]?.position, eventType: events[0]?.type, error: e, at: new Date() };
          throw e;
        };
        let r: void | Promise<void>;
        try {
          r = projection.apply(events, ctx);
        } catch (e) {
          return record(e);
        }
        return r instanceof Promise ? r.catch(record) : r;
      },
    });
  }
}

/** Settings of an inline group. */
export interface InlineSettings {
  owner: string;
  leaseMs: number;
  batchSize: number;
  maxBackoffMs: number;
}

/** See the file comment. */
export class InlineGroup {
  readonly entries: InlineEntry[];
  private detach: (() => void) | undefined;
  private fusion: unknown;
  private closed = false;
  private readonly pause = new Pause();

  constructor(
    private readonly log: EventLog & InlineProjectionHost,
    readonly driver: StorageDriver,
    projections: readonly Projection<any>[],
    private readonly s: InlineSettings,
  ) {
    this.entries = projections.map((p) => new InlineEntry(p));
  }

  /** Create control records, attach the hook, and build every projection never built here (awaited). */
  async start(): Promise<void> {
    for (const e of this.entries) await this.driver.ensureControl(e.projection.name, { generation: 0, version: 0, position: 0, seen: 0, building: undefined });
    const inline = this.driver.inline!;
    const hook = (events: readonly RecordedEvent[], tx: AppendTransaction) => {
      let max = 0;
      for (const e of events) if (e.position > max) max = e.position;
      const items: InlineItem[] = this.entries.map((en) => ({ projection: en.wrapped, events: events.filter((e) => handlesType(en.projection, e.type)) }));
      return inline.apply(tx, items, max);
    };
    // the log may write a lone event's views in the append's own statement (PostgreSQL: see storage/postgres-fused.ts)
    this.fusion = inline.fusion?.(this.entries.map((e) => e.projection));
    if (this.fusion !== undefined) Object.assign(hook, { postgresFusion: this.fusion });
    this.detach = this.log.onAppend(hook);
    for (const e of this.entries) e.state = 'running';
    // read the head after the hook is attached: every append from now on moves the checkpoint past it
    const head = await headPosition(this.log);
    const first: Promise<void>[] = [];
    for (const e of this.entries) {
      const ctl = (await this.driver.control(e.projection.name))!;
      if (ctl.version === e.projection.version && ctl.position < head) {
        // a view that fell behind (it ran async, or appends were made without the hook): folding new
        // events into it would leave a gap; refuse instead of serving a view that is not a prefix
        await this.close();
        throw new ValidationError(
          `projection ${e.projection.name}: its view is at position ${ctl.position} but the log is at ${head}, so it cannot run inline from here (did it run async, or did a process append without the runner?); bump its version to rebuild it, or run it async`,
        );
      }
      if (ctl.version === e.projection.version) continue;
      e.state = 'rebuilding';
      const build = this.rebuild(e, {}, true).catch(async (err: unknown) => {
        if (!(err instanceof LockedError)) throw err;
        await this.waitForVersion(e, ctl); // another process builds it
      });
      // never built: start() waits (there is no view to read yet); a version bump builds in the background
      if (ctl.generation === 0) first.push(build);
      else void build.catch(() => undefined);
    }
    await Promise.all(first);
  }

  /** Rebuild one projection under its lease (LockedError while another process holds it). */
  rebuild(entry: InlineEntry, options: RebuildOptions, quietLock = false): Promise<void> {
    if (entry.rebuilding) return entry.rebuilding; // started from position 0 with this code, switches at the head: join it
    const name = entry.projection.name;
    const fence: Fence = { owner: this.s.owner, ttlMs: this.s.leaseMs };
    const run = async (): Promise<void> => {
      if (!(await this.driver.acquire(name, fence))) throw new LockedError(`projection ${name}`, 'another process (rebuilding it)');
      const beat = setInterval(() => void this.driver.acquire(name, fence).catch(() => undefined), Math.max(10, Math.floor(this.s.leaseMs / 3)));
      beat.unref();
      entry.state = 'rebuilding';
      try {
        await rebuild({ driver: this.driver, log: this.log, projection: entry.projection, fence, batchSize: this.s.batchSize, policy: this.policy(entry), onProgress: options.onProgress, progressEveryMs: options.progressEveryMs ?? 500 });
        entry.state = 'running';
      } catch (e) {
        if (!(quietLock && e instanceof LockedError)) entry.lastError = { position: (e as { position?: number }).position, eventType: (e as { eventType?: string }).eventType, error: (e as { cause?: unknown }).cause ?? e, at: new Date() };
        entry.state = 'running'; // the old generation keeps being served and followed
        throw e;
      } finally {
        clearInterval(beat);
        await this.driver.release(name, this.s.owner).catch(() => undefined);
      }
    };
    entry.rebuilding = run().finally(() => (entry.rebuilding = undefined));
    return entry.rebuilding;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pause.wake();
    this.detach?.();
    this.detach = undefined;
    if (this.fusion !== undefined) this.driver.inline?.releaseFusion?.(this.fusion);
    this.fusion = undefined;
    await Promise.all(this.entries.map((e) => e.rebuilding?.catch(() => undefined)));
    for (const e of this.entries) e.state = 'stopped';
  }

  private policy(entry: InlineEntry): RetryPolicy {
    return {
      maxBackoffMs: this.s.maxBackoffMs,
      pause: this.pause,
      stopped: () => this.closed,
      onRetry: (e) => (entry.lastError = { position: undefined, eventType: undefined, error: e, at: new Date() }),
    };
  }

  /** Wait until another process has built the projection's version (start() of a second process). */
  private async waitForVersion(entry: InlineEntry, before: ControlRow): Promise<void> {
    while (!this.closed) {
      const ctl = await this.driver.control(entry.projection.name);
      if (ctl && ctl.version === entry.projection.version) {
        entry.state = 'running';
        return;
      }
      if (ctl && before.generation !== 0) return; // a version bump: the old view serves meanwhile
      await this.pause.sleep(50);
    }
  }
}
