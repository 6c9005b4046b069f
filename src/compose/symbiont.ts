/**
 * Symbiont: pure agent logic `(input, state) => [output, nextState]` fused with a DataAgent that
 * keeps the state between invocations.
 *
 * @example
 * ```ts
 * const counter = symbiont(
 *   (by: number, s: { n: number }) => [s.n + by, { n: s.n + by }] as const,
 *   new PersistentAgent({ path: './counter.json', initial: { n: 0 } }),
 * );
 * await counter.invoke(2); // 2, and { n: 2 } is stored
 * ```
 *
 * Each invocation is one read-modify-write: with an agent that has `update()` (every built-in
 * agent) concurrent invocations, in this process or others, are serialised by optimistic
 * concurrency and none is lost; the logic may then run more than once for one invocation (after
 * a conflict), which is why it must be pure. The output returned is the one computed from the
 * state that was actually stored. With an agent without `update()`, invocations through one
 * symbiont are serialised in process.
 */
import { Mutex } from '../core/mutex.js';
import { ValidationError } from '../core/errors.js';
import type { DataAgent } from '../agents/data-agent.js';
import { frozen, thawed, type Frozen } from '../core/frozen.js';
import { readModifyWrite } from './read-modify-write.js';

/** Pure agent logic: computes an output and the next state; `state` is frozen (read-only in its type). */
export type SymbiontLogic<I, O, S> = (input: I, state: Frozen<S>) => readonly [O, S | Frozen<S>];

/** A logic fused with its state's agent. */
export interface Symbiont<I, O, S> {
  /** Load the state, run the logic, store the next state; resolves with the output. */
  invoke(input: I): Promise<O>;
  /** The agent holding the state. */
  readonly agent: DataAgent<S>;
  /** The logic, for calling it directly (e.g. in tests). */
  readonly logic: SymbiontLogic<I, O, S>;
}

/** Fuse pure `logic` with the `agent` that stores its state. */
export function symbiont<I, O, S>(logic: SymbiontLogic<I, O, S>, agent: DataAgent<S>): Symbiont<I, O, S> {
  if (typeof logic !== 'function') throw new ValidationError('symbiont logic must be a function (input, state) => [output, state]');
  if (!agent || typeof agent.load !== 'function') throw new ValidationError('symbiont needs a DataAgent');
  const mutex = new Mutex();
  return {
    agent,
    logic,
    async invoke(input: I): Promise<O> {
      let output: O | undefined;
      await readModifyWrite(agent, mutex, (state) => {
        const result = logic(input, frozen(state));
        if (!Array.isArray(result) || result.length !== 2) {
          throw new ValidationError('symbiont logic must return a pair [output, nextState]');
        }
        // Overwritten on every retry: the last run is the one whose state was stored.
        output = result[0] as O;
        return thawed<S>(result[1]);
      });
      return output as O;
    },
  };
}
