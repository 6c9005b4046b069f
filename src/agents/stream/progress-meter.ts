/**
 * Progress of an agent's rebuild (StreamAgent.rebuildSnapshots, VectorAgent.rebuild), reported in
 * the projection runner's {@link RebuildProgress} shape so one progress bar serves every rebuild.
 */
import type { RebuildOptions, RebuildProgress } from '../../projections/runner/types.js';

/** Counts events and reports to `onProgress` at most every `progressEveryMs` (default 500), and once at the end. */
export class ProgressMeter {
  private readonly started = Date.now();
  private processed = 0;
  private reported = 0;

  constructor(
    private readonly name: string,
    /** events expected (the head when the rebuild started) */
    private readonly total: number,
    private readonly options: RebuildOptions = {},
  ) {}

  /** `n` more events handled. */
  step(n = 1): void {
    this.processed += n;
    this.report(false);
  }

  /** The rebuild is complete: always reports (processed == total unless appends raced it). */
  done(): void {
    this.report(true);
  }

  private report(force: boolean): void {
    const onProgress = this.options.onProgress;
    if (!onProgress) return;
    const now = Date.now();
    if (!force && now - this.reported < (this.options.progressEveryMs ?? 500)) return;
    this.reported = now;
    const eventsPerSecond = this.processed / (Math.max(now - this.started, 1) / 1000);
    const left = Math.max(this.total - this.processed, 0);
    const p: RebuildProgress = {
      name: this.name,
      processed: this.processed,
      total: Math.max(this.total, this.processed),
      eventsPerSecond,
      etaMs: eventsPerSecond > 0 ? (left / eventsPerSecond) * 1000 : undefined,
    };
    onProgress(p);
  }
}
