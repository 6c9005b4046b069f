/** How error messages show the values they refuse (`shown`): a string quoted, so "10" does not read as a number. */
import { describe, expect, it } from 'vitest';
import { shown, ValidationError } from '../src/core/errors.js';
import { VolatileAgent } from '../src/index.js';

describe('shown', () => {
  it('quotes strings and cuts long ones; names objects by their kind, never their contents', () => {
    expect(shown('10')).toBe('"10"');
    expect(shown(10)).toBe('10');
    expect(shown(undefined)).toBe('undefined');
    expect(shown(null)).toBe('null');
    expect(shown(5n)).toBe('5n');
    expect(shown({ connectionString: 'postgres://u:secret@h/db' })).toBe('an object');
    expect(shown([1, 'x'])).toBe('an array of 2');
    expect(shown(new Map())).toBe('a Map');
    expect(shown(new Date(0))).toBe('a Date (1970-01-01T00:00:00.000Z)');
    expect(shown(() => 1)).toBe('a function');
    const long = shown('x'.repeat(500));
    expect(long).toBe(`"${'x'.repeat(75)}..."`);
  });

  it('an option of the wrong type reads as such in the message', () => {
    expect(() => new VolatileAgent({ maxHistory: '10' as unknown as number })).toThrow(ValidationError);
    expect(() => new VolatileAgent({ maxHistory: '10' as unknown as number })).toThrow(/got "10"$/);
    expect(() => new VolatileAgent({ maxHistory: 0 })).toThrow(/got 0$/);
  });
});
