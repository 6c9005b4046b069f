/** The argument check of `loadAt()`, shared by every agent that offers time travel. */
import { ValidationError, shown } from '../core/errors.js';
import type { LoadAtTarget } from './data-agent.js';

/**
 * Check a `loadAt()` target: `{ version }` an integer >= 1, or `{ time }` a valid Date, finite epoch
 * milliseconds or a string `Date.parse` understands. Anything else is a ValidationError, raised
 * before the backend is asked, so a bad argument is never reported as a backend failure.
 */
export function checkLoadAtTarget(target: unknown): LoadAtTarget {
  if (typeof target !== 'object' || target === null) {
    throw new ValidationError(`loadAt needs { version } or { time }, got ${target === null ? 'null' : typeof target}`);
  }
  if ('version' in target) {
    const v = (target as { version: unknown }).version;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new ValidationError(`loadAt version must be an integer >= 1, got ${shown(v)}`, [{ message: 'not an integer >= 1', path: 'version' }]);
    }
    return target as LoadAtTarget;
  }
  if ('time' in target) {
    const t = (target as { time: unknown }).time;
    const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
    if (!Number.isFinite(ms)) {
      throw new ValidationError(`loadAt time must be a valid Date, epoch milliseconds or an ISO 8601 string, got ${typeof t === 'string' ? JSON.stringify(t) : String(t)}`, [
        { message: 'not a time', path: 'time' },
      ]);
    }
    return target as LoadAtTarget;
  }
  throw new ValidationError('loadAt needs { version } or { time }');
}
