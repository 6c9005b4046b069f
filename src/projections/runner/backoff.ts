/** Retry pacing for backend outages, and the error classes the runner treats differently. */
import { BackendUnavailableError } from '../../core/errors.js';

/** Exponential backoff from 50 ms up to `max`, with jitter (so standbys and holders do not retry in step). */
export function backoffMs(attempt: number, max: number): number {
  const base = Math.min(max, 50 * 2 ** Math.min(attempt, 16));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/** Whether a failure is the storage or log being unreachable (retried) rather than the projection's fault. */
export function isRetryable(e: unknown): boolean {
  return e instanceof BackendUnavailableError;
}

/** A sleep that `wake()` ends early (close() must not wait out a backoff). */
export class Pause {
  private wakers = new Set<() => void>();

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  wake(): void {
    for (const w of [...this.wakers]) w();
  }
}
