/**
 * One async projection in one runner: take the lease (or wait as a standby), follow the log from
 * the stored checkpoint in batches (by count and by time), commit each batch with its checkpoint
 * fenced by the lease, and stop alone on an event the projection cannot apply.
 */
import { LockedError } from '../../core/errors.js';
import type { EventLog, RecordedEvent, Subscription } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import { backoffMs, isRetryable, Pause } from './backoff.js';
import { ApplyFailure, commitEvents, type RetryPolicy } from './batch.js';
import { isLeaseLost, type BatchTarget, type ControlRow, type Fence, type StorageDriver } from './driver.js';
import { rebuild } from './rebuild.js';
import type { ProjectionError, ProjectionState, RebuildOptions } from './types.js';

/** Settings shared by the workers of a runner. */
export interface WorkerSettings {
  log: EventLog;
  owner: string;
  batchSize: number;
  batchMs: number;
  leaseMs: number;
  maxBackoffMs: number;
}

const STOP = Symbol('stop');

/** See the file comment. */
export class AsyncWorker {
  state: ProjectionState = 'stopped';
  leader = false;
  position = 0;
  generation = 0;
  version = 0;
  lastError: ProjectionError | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopFollow: (() => Promise<void>) | undefined;
  private rebuilding: Promise<unknown> | undefined;
  private readonly pause = new Pause();
  private readonly fence: Fence;
  /** settles after the first attempt to take the lease (rebuild() on a fresh runner waits for it) */
  private decided!: () => void;
  private readonly firstAttempt = new Promise<void>((r) => (this.decided = r));
  readonly policy: RetryPolicy;

  constructor(
    readonly projection: Projection<any>,
    readonly driver: StorageDriver,
    private readonly s: WorkerSettings,
  ) {
    this.fence = { owner: s.owner, ttlMs: s.leaseMs };
    this.policy = {
      maxBackoffMs: s.maxBackoffMs,
      pause: this.pause,
      stopped: () => this.closed || !this.leader,
      onRetry: (e) => (this.lastError = { position: undefined, eventType: undefined, error: e, at: new Date() }),
    };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Rebuild into a new generation while following the log; only the lease holder can. */
  async rebuild(options: RebuildOptions): Promise<void> {
    await this.firstAttempt;
    if (!this.leader) throw new LockedError(`projection ${this.projection.name}`, 'another runner (this one is a standby)');
    // one already running (the first build, a version bump, another call) started from position 0
    // with this code and switches at the head: join it
    if (this.rebuilding) return void (await this.rebuilding);
    const run = this.runRebuild(options, true);
    this.rebuilding = run;
    try {
      await run;
    } finally {
      this.rebuilding = undefined;
      this.pause.wake();
    }
  }

  /** Stop following (committing what is buffered), release the lease. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.decided();
    this.pause.wake();
    await this.stopFollow?.().catch(() => undefined);
    await this.rebuilding?.catch(() => undefined);
    await this.loop;
    this.stopHeartbeat();
    if (this.leader) await this.driver.release(this.projection.name, this.s.owner).catch(() => undefined);
    this.leader = false;
    if (this.state !== 'failed') this.state = 'stopped';
  }

  private async run(): Promise<void> {
    const name = this.projection.name;
    for (let attempt = 0; !this.closed; ) {
      try {
        if (!this.leader) {
          const held = await this.driver.acquire(name, this.fence).catch((e: unknown) => {
            this.decided();
            throw e;
          });
          if (!held) {
            this.decided();
            this.state = 'standby';
            await this.pause.sleep(Math.max(10, Math.floor(this.s.leaseMs / 4)));
            continue;
          }
          this.leader = true;
          this.startHeartbeat();
        }
        let ctl = await this.driver.control(name);
        if (!ctl) {
          // first run anywhere: create generation 1's objects before the control record points at
          // them (readers never find a generation without its tables); the lease keeps this to one runner
          await this.driver.setup({ projection: this.projection, generation: 1, version: this.projection.version, phase: 'async', slot: 'active' });
          ctl = await this.driver.ensureControl(name, { generation: 1, version: this.projection.version, position: 0, seen: 0, building: undefined });
        }
        this.track(ctl);
        if (ctl.version !== this.projection.version) {
          // a version bump (or an inline projection turned async before its first build): the active
          // generation was folded by other code, so it stays as it is (a prefix, still serving)
          // while the new version is built beside it
          this.rebuilding = this.runRebuild({}, false);
          this.decided();
          try {
            await this.rebuilding;
          } finally {
            this.rebuilding = undefined;
          }
          continue;
        }
        this.decided();
        await this.driver.setup({ projection: this.projection, generation: ctl.generation, version: ctl.version, phase: 'async', slot: 'active' });
        this.state = 'catching_up';
        await this.follow(ctl);
        if (this.rebuilding) await this.rebuilding.catch(() => undefined);
        attempt = 0;
      } catch (e) {
        if (this.closed) break;
        if (isLeaseLost(e)) {
          this.leader = false;
          this.stopHeartbeat();
          continue;
        }
        if (isRetryable(e)) {
          this.policy.onRetry(e);
          await this.pause.sleep(backoffMs(attempt++, this.s.maxBackoffMs));
          continue;
        }
        this.fail(e);
        return;
      }
    }
  }

  private async runRebuild(options: RebuildOptions, following: boolean): Promise<void> {
    this.state = 'rebuilding';
    const generation = await rebuild({
      driver: this.driver,
      log: this.s.log,
      projection: this.projection,
      fence: this.fence,
      batchSize: this.s.batchSize,
      policy: this.policy,
      onProgress: options.onProgress,
      progressEveryMs: options.progressEveryMs ?? 500,
      ...(following ? { beforeSwitch: async () => void (await this.stopFollow?.()) } : {}),
    });
    const ctl = await this.driver.control(this.projection.name);
    if (ctl) this.track(ctl);
    this.generation = generation;
  }

  private track(ctl: ControlRow): void {
    this.position = ctl.position;
    this.generation = ctl.generation;
    this.version = ctl.version;
  }

  private fail(e: unknown): void {
    const f = e instanceof ApplyFailure ? e : undefined;
    this.lastError = { position: f?.position, eventType: f?.eventType, error: f ? f.cause : e, at: new Date() };
    this.state = 'failed';
    this.stopHeartbeat();
    void this.driver.release(this.projection.name, this.s.owner).catch(() => undefined);
    this.leader = false;
  }

  /** Follow the log from the checkpoint until stopped (resolves) or a failure (rejects). */
  private follow(ctl: ControlRow): Promise<void> {
    const target: BatchTarget = { projection: this.projection, generation: ctl.generation, version: ctl.version, phase: 'async', slot: 'active' };
    return new Promise<void>((resolve, reject) => {
      const buffer: RecordedEvent[] = [];
      let timer: NodeJS.Timeout | undefined;
      let chain: Promise<void> = Promise.resolve();
      let ended = false;
      let sub: Subscription | undefined;
      const end = (err?: unknown): void => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.stopFollow = undefined;
        void sub?.close();
        if (err === undefined) resolve();
        else reject(err);
      };
      const flush = (): Promise<void> => {
        clearTimeout(timer);
        timer = undefined;
        const events = buffer.splice(0);
        if (events.length === 0) return chain;
        chain = chain.then(async () => {
          if (ended) return;
          try {
            this.position = await commitEvents(this.driver, target, events, this.fence, this.policy);
          } catch (e) {
            end(e);
          }
        });
        return chain;
      };
      this.stopFollow = async () => {
        await flush();
        end();
      };
      sub = this.s.log.subscribe({ fromPosition: ctl.position }, async (e) => {
        if (ended) throw STOP;
        buffer.push(e);
        if (buffer.length >= this.s.batchSize) await flush();
        else timer ??= setTimeout(() => void flush(), this.s.batchMs);
        if (ended) throw STOP;
      });
      sub.done.then(
        () => end(),
        (err: unknown) => end(err === STOP ? undefined : err),
      );
      if (this.closed) void this.stopFollow();
    });
  }

  private startHeartbeat(): void {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      this.driver.acquire(this.projection.name, this.fence).then(
        (held) => {
          if (held || !this.leader) return;
          this.leader = false; // another runner has it: commits are fenced anyway; stop following now
          void this.stopFollow?.();
        },
        () => undefined, // an outage: the fenced commits decide
      );
    }, Math.max(10, Math.floor(this.s.leaseMs / 3)));
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
