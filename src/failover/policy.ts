/**
 * Write policies and backend entries shared by `fallback()` over agents and over Stores.
 *
 * - `'all'`: every write goes to every backend and resolves only when all took it.
 * - `'primary-then-queue'`: a write goes to the first available backend and is queued durably
 *   (in an embedded event log) for the others, which replay it in order when they are back.
 * - `'first-available'`: a write goes to the first backend that is not unavailable, and nowhere else.
 */
import { ValidationError } from '../core/errors.js';

/** Where writes go; see the file comment. */
export type WritePolicy = 'all' | 'primary-then-queue' | 'first-available';

export const WRITE_POLICIES: readonly WritePolicy[] = ['all', 'primary-then-queue', 'first-available'];

/** A backend with its priority (lower first, like DNS SRV records; ties keep the given order) and a stable name. */
export interface PrioritizedBackend<B> {
  backend: B;
  /** lower is tried first (default: its position in the list) */
  priority?: number | undefined;
  /** names the backend in status() and in the queue; default its position in the given list ("0", "1", ...) */
  name?: string | undefined;
}

/** A backend after normalisation: sorted by priority, named. */
export interface Ranked<B> {
  backend: B;
  priority: number;
  name: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function checkPolicy(writes: unknown, what: string): WritePolicy {
  const w = writes ?? 'all';
  if (!WRITE_POLICIES.includes(w as WritePolicy)) throw new ValidationError(`${what}: writes must be one of ${WRITE_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(writes)}`);
  return w as WritePolicy;
}

/** Sort and name backends given either bare or as `{ backend, priority?, name? }`. */
export function rank<B>(entries: readonly (B | PrioritizedBackend<B>)[], isBackend: (x: unknown) => x is B, what: string): Ranked<B>[] {
  if (!Array.isArray(entries) || entries.length === 0) throw new ValidationError(`${what} needs at least one backend`);
  const out = entries.map((e, i): Ranked<B> => {
    if (isBackend(e)) return { backend: e, priority: i, name: String(i) };
    const p = e as PrioritizedBackend<B> | undefined;
    if (!p || typeof p !== 'object' || !isBackend(p.backend)) throw new ValidationError(`${what}: backend ${i} is not a valid backend nor { backend, priority?, name? }`);
    const priority = p.priority ?? i;
    if (typeof priority !== 'number' || !Number.isFinite(priority)) throw new ValidationError(`${what}: priority of backend ${i} must be a finite number`);
    const name = p.name ?? String(i);
    if (typeof name !== 'string' || !NAME.test(name)) throw new ValidationError(`${what}: backend name ${JSON.stringify(name)} must be 1-64 letters, digits, '_', '.' or '-'`);
    return { backend: p.backend, priority, name };
  });
  const names = new Set(out.map((b) => b.name));
  if (names.size !== out.length) throw new ValidationError(`${what}: backend names must be unique`);
  return out.map((b, i) => ({ b, i })).sort((x, y) => x.b.priority - y.b.priority || x.i - y.i).map((x) => x.b);
}
