/**
 * The type of a state as agents hand it out: deeply frozen at run time (immer's freeze), so
 * deeply read-only in the type. `s.turns.push()` on a loaded state is then a compile error rather
 * than a TypeError at run time.
 *
 * A mutable `S` is assignable to `Frozen<S>`, and every agent's `save` accepts `S | Frozen<S>`, so
 * a loaded state can be saved back as is.
 */

/**
 * Values the codec hands out as they are. Dates are objects Object.freeze cannot make immutable,
 * and Uint8Arrays cannot be frozen at all: agents give out copies of those instead.
 */
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
type FrozenLeaf = string | number | boolean | bigint | symbol | null | undefined | Date | Uint8Array | Function;

/**
 * `T`, deeply read-only: objects and arrays get `readonly` members, Maps and Sets become
 * `ReadonlyMap` and `ReadonlySet`. Like immer's `Immutable`, except that `Uint8Array` stays as is.
 *
 * @example
 * ```ts
 * const s: Frozen<{ turns: string[] }> = await agent.load();
 * s.turns.push('x'); // error: Property 'push' does not exist on type 'readonly string[]'
 * await agent.save({ ...s, turns: [...s.turns, 'x'] }); // fine
 * ```
 */
export type Frozen<T> = DeepReadonly<NoInfer<T>>;

/**
 * Frozen's body. Frozen wraps it in NoInfer: a state type is inferred from the plain `S` of an
 * agent (`'~state'`, `save`), never from a read-only form (which would infer the read-only type).
 */
type DeepReadonly<T> = T extends FrozenLeaf
  ? T
  : T extends ReadonlyMap<infer K, infer V>
    ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
    : T extends ReadonlySet<infer V>
      ? ReadonlySet<DeepReadonly<V>>
      : T extends object
        ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
        : T;

/**
 * Type-only: a state the codec has frozen, as the callers of an agent see it. Agents keep their
 * states typed `S` inside and convert at the public boundary; no copy, no run-time cost.
 */
export function frozen<S>(state: S): Frozen<S> {
  return state as Frozen<S>;
}

/** Type-only: a state handed back by a caller (`S` or `Frozen<S>`), as agents handle it inside. */
export function thawed<S>(state: NoInfer<S> | Frozen<S>): S {
  return state as S;
}
