/**
 * What the write queue needs from one backend: how to apply a queued operation so that applying
 * it again after a crash does not apply it twice.
 *
 * Before an operation is applied, the queue records the backend's `tokens` for it (for a
 * versioned agent, its version; for a Store, each key's version) in the backend's cursor stream.
 * A re-apply after a crash or an ambiguous failure (`recovering`) first compares the backend with
 * those tokens and skips what already landed. A first apply uses the tokens as expected versions,
 * so a backend changed behind the queue's back answers with ConcurrencyError instead of being overwritten.
 */
import { BackendUnavailableError } from '../core/errors.js';

/** JSON-encodable facts about a backend's state before an operation was applied. */
export type Token = unknown;

export interface FailoverTarget<Op, R = unknown> {
  /**
   * What `apply` compares with; `strict` = the write the caller waits for (its own expectedVersion
   * wins). `cached`: the target may answer from what its own last applies left (no read), but only
   * for tokens that `apply` uses as expectations, so a stale guess is a ConcurrencyError, never a wrong skip.
   */
  tokens(op: Op, strict: boolean, cached?: boolean): Promise<Token[]>;
  /** apply `op`; when `recovering`, skip the parts the tokens show already landed; `queuedAt`: a replay of a write queued then (epoch ms) */
  apply(op: Op, tokens: Token[], recovering: boolean, queuedAt?: number): Promise<R>;
  /** resolves when the backend can serve, throws BackendUnavailableError when it cannot */
  probe(): Promise<void>;
}

export function isUnavailable(e: unknown): e is BackendUnavailableError {
  return e instanceof BackendUnavailableError;
}

export function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
