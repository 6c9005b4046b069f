/**
 * A DataAgent as a target of the write queue. A versioned agent (every agent of dgent but
 * VectorAgent) is replayed exactly once: its version before the save is recorded, a first apply
 * saves with that `expectedVersion`, and a re-apply skips the save when the version moved past
 * it. An agent without `version()` is replayed at least once (a crash mid-replay may save a state twice).
 */
import { StateNotFoundError } from '../core/errors.js';
import { isVersioned, type DataAgent } from '../agents/data-agent.js';
import type { FailoverTarget, Token } from './target.js';

/** A queued agent write. */
export interface AgentOp<S> {
  state: S;
  /** the caller's expectedVersion: checked by the backend that acknowledges the write */
  expectedVersion?: number | undefined;
}

export function agentTarget<S>(agent: DataAgent<S>): FailoverTarget<AgentOp<S>, void> {
  /** the version our last save left (a guess: the save after it expects it, so a stale one is a ConcurrencyError) */
  let known: number | undefined;
  return {
    async tokens(op, strict, cached) {
      if (strict && op.expectedVersion !== undefined) return [op.expectedVersion];
      if (cached && known !== undefined) return [known];
      return [isVersioned(agent) ? await agent.version() : null];
    },
    async apply(op, tokens, recovering) {
      const t = tokens[0] as Token;
      known = undefined;
      if (typeof t !== 'number' || !isVersioned(agent)) return agent.save(op.state);
      if (recovering && (await agent.version()) > t) return; // it landed before the crash
      await agent.save(op.state, { expectedVersion: t });
      known = t + 1;
    },
    async probe() {
      if (isVersioned(agent)) await agent.version();
      else await agent.load().catch((e: unknown) => {
        if (!(e instanceof StateNotFoundError)) throw e;
      });
    },
  };
}
