/** How error messages show the values they refuse (`shown`): a string quoted, so "10" does not read as a number. */
import { describe, expect, it } from 'vitest';
import { shown, ValidationError } from '../src/core/errors.js';
import { VolatileAgent } from '../src/index.js';

describe('shown', () => {
  it('quotes strings, cuts long ones, writes plain objects and arrays as JSON, and names what JSON cannot show', () => {
    expect(shown('10')).toBe('"10"');
    expect(shown(10)).toBe('10');
    expect(shown(undefined)).toBe('undefined');
    expect(shown(null)).toBe('null');
    expect(shown(5n)).toBe('5n');
    expect(shown({ a: 1 })).toBe('{"a":1}');
    expect(shown([1, 'x'])).toBe('[1,"x"]');
    expect(shown(() => 1)).toBe('a function');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(shown(cyclic)).toBe('an object');
    const long = shown('x'.repeat(500));
    expect(long).toHaveLength(80);
    expect(long.endsWith('...')).toBe(true);
  });

  it('an option of the wrong type reads as such in the message', () => {
    expect(() => new VolatileAgent({ maxHistory: '10' as unknown as number })).toThrow(ValidationError);
    expect(() => new VolatileAgent({ maxHistory: '10' as unknown as number })).toThrow(/got "10"$/);
    expect(() => new VolatileAgent({ maxHistory: 0 })).toThrow(/got 0$/);
  });
});
