import { randomUUID } from 'node:crypto';
import { ValidationError } from './errors.js';

/** A new random id (UUID v4). */
export function newId(): string {
  return randomUUID();
}

/** Milliseconds since the epoch; one place to read the clock so tests and logs agree. */
export function nowMs(): number {
  return Date.now();
}

/** Normalise a time argument (Date, epoch ms or ISO string) to epoch milliseconds. */
export function toMs(t: Date | number | string): number {
  const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? t : Date.parse(t);
  if (!Number.isFinite(ms)) throw new ValidationError(`invalid time ${String(t)}: use a Date, epoch milliseconds or an ISO 8601 string`);
  return ms;
}
