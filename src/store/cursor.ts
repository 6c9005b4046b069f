/** List cursors (the last key of a page, opaque to callers) and glob patterns on keys. */
import { ValidationError } from '../core/errors.js';

/** The cursor after `key`. */
export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** The key a cursor stands for; a cursor that was not made by encodeCursor is a ValidationError. */
export function decodeCursor(cursor: unknown): string {
  if (typeof cursor !== 'string' || cursor.length === 0 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new ValidationError(`bad list cursor ${JSON.stringify(cursor)}`);
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encodeCursor(key) !== cursor) throw new ValidationError(`bad list cursor ${JSON.stringify(cursor)}`);
  return key;
}

/** A matcher for a glob: `*` any run of characters, `?` one character, `\\` escapes the next one. */
export function globMatcher(pattern: unknown): (key: string) => boolean {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 1024) throw new ValidationError('pattern must be a non-empty string of at most 1024 characters');
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) re += escape(pattern[++i]!);
    else if (c === '*') re += '[\\s\\S]*';
    else if (c === '?') re += '[\\s\\S]';
    else re += escape(c);
  }
  const rx = new RegExp(`^${re}$`, 'u');
  return (key) => rx.test(key);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
