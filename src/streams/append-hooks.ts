/** Registration of `onAppend` hooks, shared by the logs that run hooks inside their appends. */
import { ValidationError } from '../core/errors.js';

/**
 * Add `hook` to a log's hook list after checking it is a function; returns the function that
 * removes it again (removing twice is harmless).
 */
export function addAppendHook<H>(hooks: H[], hook: H): () => void {
  if (typeof hook !== 'function') throw new ValidationError('onAppend needs a function');
  hooks.push(hook);
  return () => {
    const i = hooks.indexOf(hook);
    if (i >= 0) hooks.splice(i, 1);
  };
}
