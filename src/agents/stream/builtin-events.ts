/**
 * The events a StreamAgent writes itself: `$state` (a full state, from `save`) and `$patch` (the
 * immer patches of one `update`, so a long-lived agent stores deltas instead of a copy per change).
 * Event types starting with `$` are reserved for these.
 */
import { applyPatches, produceWithPatches, type Patch } from 'immer';
import { runRecipe } from '../recipe-errors.js';
import { CorruptionError } from '../../core/errors.js';
import type { NewEvent, RecordedEvent } from '../../streams/event-log.js';
import type { Recipe } from '../data-agent.js';
import '../immer-setup.js';

/** Type of the event `save(state)` appends: `data` is the whole new state. */
export const STATE_EVENT = '$state';
/** Type of the event `update(recipe)` appends: `data` is `{ patches }` (immer patches). */
export const PATCH_EVENT = '$patch';

/** Data of a {@link PATCH_EVENT}. */
export interface PatchEventData {
  patches: Patch[];
}

/** True for event types reserved for StreamAgent's own events. */
export function isReservedType(type: string): boolean {
  return type.startsWith('$');
}

/** True when the event is one of StreamAgent's own. */
export function isBuiltinEvent(e: RecordedEvent): boolean {
  return e.type === STATE_EVENT || e.type === PATCH_EVENT;
}

/** The state after a built-in event. `hasState` is false when no state exists yet (no initial). */
export function applyBuiltin<S>(state: S, hasState: boolean, e: RecordedEvent): S {
  if (e.type === STATE_EVENT) return e.data as S;
  const where = `stream ${JSON.stringify(e.stream)} revision ${e.revision}`;
  const patches = (e.data as Partial<PatchEventData> | null)?.patches;
  if (!Array.isArray(patches)) throw new CorruptionError(`${PATCH_EVENT} event without a patches array`, where);
  if (!hasState) throw new CorruptionError(`${PATCH_EVENT} event before any state (no initial state and no earlier ${STATE_EVENT})`, where);
  try {
    return applyPatches(state as never, patches) as S;
  } catch (err) {
    throw new CorruptionError(`${PATCH_EVENT} event does not apply to the state before it: ${(err as Error).message}`, where, { cause: err });
  }
}

/**
 * Run an immer recipe and return the event that records it: a `$patch` with the patches, or a
 * `$state` with the whole result when the patches would not survive encoding (object members of
 * a Set, object keys of a Map are matched by identity, which a decoded copy does not have).
 * `wholeState` forces a `$state`. `changed` is false when immer saw no change.
 */
export function recordRecipe<S>(base: S, recipe: Recipe<S>, wholeState = false): { next: S; changed: boolean; event: NewEvent } {
  const [next, patches] = runRecipe('update', () => produceWithPatches(base, recipe as never)) as unknown as [S, Patch[]];
  const safe = !wholeState && patches.every((p) => survivesEncoding(base, p));
  const event: NewEvent = safe ? { type: PATCH_EVENT, data: { patches } } : { type: STATE_EVENT, data: next };
  return { next, changed: patches.length > 0, event };
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null;
}

/** Walk the base along the patch's path; refuse identity-matched object keys and Set members. */
function survivesEncoding(base: unknown, p: Patch): boolean {
  let node: unknown = base;
  for (let i = 0; i < p.path.length; i++) {
    const key = p.path[i];
    if (isObject(key)) return false;
    const last = i === p.path.length - 1;
    if (node instanceof Set) return last && !isObject(p.value);
    if (last) return true;
    if (node instanceof Map) node = node.get(key);
    else if (isObject(node)) node = (node as Record<string | number, unknown>)[key as string | number];
    // the parent is missing from the base: immer adds new subtrees whole, so this is unexpected
    else return false;
  }
  return true;
}
