/**
 * Shared plumbing of the combinators: run a pure `whole -> next` step as one read-modify-write on
 * an agent, using the agent's own `update()` (optimistic concurrency, retried on conflict) when it
 * has one, and an in-process mutex around load + save otherwise.
 */
import { isDraft, nothing, original } from 'immer';
import type { Draft } from 'immer';
import { prepare } from '../core/codec.js';
import { frozen, thawed, type Frozen } from '../core/frozen.js';
import type { Mutex } from '../core/mutex.js';
import { isUpdatable, type DataAgent, type Recipe } from '../agents/data-agent.js';
import '../agents/immer-setup.js';

/** The frozen value an immer recipe was given, whether it is a draft or a primitive. */
export function baseOf<S>(draft: Draft<S> | S): S {
  return (isDraft(draft) ? original(draft as Draft<S>) : draft) as S;
}

/**
 * An immer recipe that ignores the draft and replaces the state with `step(base)`. `step` may run
 * more than once when the agent retries after a conflict, so it must be pure.
 */
export function replacing<S>(step: (base: S) => S): Recipe<S> {
  return (draft) => {
    const next = step(baseOf<S>(draft as Draft<S>));
    // immer reads a returned `undefined` as "no change"; `nothing` means "the state is undefined"
    return (next === undefined ? nothing : next) as S;
  };
}

/**
 * Replace the state of `agent` by `step(current)` atomically with respect to other writers where
 * the agent supports `update()`, else with respect to callers sharing `mutex`. Returns the state
 * that was stored.
 */
export function readModifyWrite<S>(agent: DataAgent<S>, mutex: Mutex, step: (base: S) => S): Promise<Frozen<S>> {
  if (isUpdatable(agent)) return agent.update(replacing(step));
  return mutex.run(async () => {
    const next = prepare(step(thawed<S>(await agent.load()))).value;
    await agent.save(next);
    return frozen(next);
  });
}
