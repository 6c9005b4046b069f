/**
 * The argument of `history(limit)` / `history({ since, until, limit })`, checked once for every
 * versioned agent, and the in-process selection of the snapshots inside a window (backends that can
 * push the window down, such as SQLAgent, select in their storage instead).
 */
import { ValidationError, shown } from '../core/errors.js';
import type { HistoryOptions } from './data-agent.js';

/** A checked history window: times in epoch ms (inclusive bounds), `limit` an integer >= 0. */
export interface HistoryWindow {
  since: number | undefined;
  until: number | undefined;
  limit: number;
}

const KEYS = new Set(['since', 'until', 'limit']);

function timeOption(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = v instanceof Date ? v.getTime() : typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) {
    throw new ValidationError(`history ${name} must be a valid Date, epoch milliseconds or an ISO 8601 string, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`, [
      { message: 'not a time', path: name },
    ]);
  }
  return ms;
}

function limitOption(v: unknown): number {
  if (v === undefined) return Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ValidationError(`history limit must be an integer >= 0, got ${shown(v)}`, [{ message: 'not an integer >= 0', path: 'limit' }]);
  return v;
}

/**
 * Check `history()`'s argument: a limit, or `{ since?, until?, limit? }`. Unknown option names are a
 * ValidationError too (a misspelt `unitl` would otherwise widen the window silently).
 */
export function historyWindow(arg: number | HistoryOptions | undefined): HistoryWindow {
  if (arg === undefined || typeof arg === 'number') return { since: undefined, until: undefined, limit: limitOption(arg) };
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) throw new ValidationError(`history takes a limit or { since, until, limit }, got ${arg === null ? 'null' : typeof arg}`);
  for (const k of Object.keys(arg)) if (!KEYS.has(k)) throw new ValidationError(`history: unknown option ${JSON.stringify(k)} (options are since, until, limit)`);
  return { since: timeOption(arg.since, 'since'), until: timeOption(arg.until, 'until'), limit: limitOption(arg.limit) };
}

/** True when the window bounds the time (a plain limit does not). */
export function hasTimeBounds(w: HistoryWindow): boolean {
  return w.since !== undefined || w.until !== undefined;
}

/** True when a state saved at `time` (epoch ms) lies in the window. */
export function inWindow(time: number, w: Pick<HistoryWindow, 'since' | 'until'>): boolean {
  return (w.since === undefined || time >= w.since) && (w.until === undefined || time <= w.until);
}

/**
 * The snapshots of `newestFirst` inside the window, newest first, at most `w.limit`. Every snapshot
 * is tested (times need not grow with versions: clocks of several writers differ).
 */
export function selectWindow<T extends { time: Date }>(newestFirst: readonly T[], w: HistoryWindow): T[] {
  const out: T[] = [];
  for (const s of newestFirst) {
    if (out.length >= w.limit) break;
    if (inWindow(s.time.getTime(), w)) out.push(s);
  }
  return out;
}
