/**
 * FailingAgent: a real VolatileAgent whose writes (and, on demand, reads) fail with
 * BackendUnavailableError, for failure-injection tests of the combinators.
 */
import { BackendUnavailableError } from '../../src/core/errors.js';
import type { Frozen, LoadAtTarget } from '../../src/agents/data-agent.js';
import type { Snapshot } from '../../src/agents/versioned-agent.js';
import { VolatileAgent } from '../../src/agents/volatile-agent.js';

export class FailingAgent<S> extends VolatileAgent<S> {
  /** Fail every write while true. */
  failWrites = false;
  /** Fail only the next `n` writes, then succeed again. */
  failNextWrites = 0;
  /** Store the state, then report failure anyway (an ambiguous failure: a timeout after commit). */
  failAfterWrites = false;
  /** Fail every read while true. */
  failReads = false;
  /** Writes attempted, successful or not. */
  writeAttempts = 0;

  private unavailable(op: string): BackendUnavailableError {
    return new BackendUnavailableError('FailingAgent', `injected ${op} failure`);
  }

  override load(): Promise<Frozen<S>> {
    if (this.failReads) return Promise.reject(this.unavailable('read'));
    return super.load();
  }

  protected override async current(): Promise<Snapshot<S> | undefined> {
    if (this.failReads) throw this.unavailable('read');
    return super.current();
  }

  protected override async readHistory(limit: number): Promise<Snapshot<S>[]> {
    if (this.failReads) throw this.unavailable('read');
    return super.readHistory(limit);
  }

  protected override async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    if (this.failReads) throw this.unavailable('read');
    return super.readAt(target);
  }

  protected override async write(state: S, expectedVersion: number | undefined): Promise<Snapshot<S>> {
    this.writeAttempts++;
    if (this.failWrites) throw this.unavailable('write');
    if (this.failNextWrites > 0) {
      this.failNextWrites--;
      throw this.unavailable('write');
    }
    const snap = await super.write(state, expectedVersion);
    if (this.failAfterWrites) throw this.unavailable('acknowledgement');
    return snap;
  }
}
