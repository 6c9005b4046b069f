/**
 * Immer's own errors for a recipe used wrongly (it modified the draft *and* returned a new value,
 * returned a draft nested in a new object, ...) are plain `Error`s starting `[Immer]`: a caller's
 * mistake, so `update` reports them as ValidationError, the immer error as `cause`. Errors the
 * recipe throws itself pass through unchanged.
 */
import { ValidationError } from '../core/errors.js';

/** Whether `e` is one of immer's own errors (development or minified production message). */
export function isImmerError(e: unknown): e is Error {
  return e instanceof Error && e.message.startsWith('[Immer]');
}

/** Run immer (`produce`, `produceWithPatches`) for `what` (e.g. `'update'`), immer's errors as ValidationError. */
export function runRecipe<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!isImmerError(e)) throw e;
    const both = /returned a new value \*and\* modified its draft|minified error nr: 4\b/.test(e.message);
    const err = new ValidationError(
      both
        ? `${what}: the recipe modified the draft and also returned a new value; do one or the other (modify the draft and return nothing, or return a new value)`
        : `${what}: the recipe used immer wrongly: ${e.message}`,
    );
    (err as { cause?: unknown }).cause = e;
    throw err;
  }
}
