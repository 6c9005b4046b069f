/**
 * Keyed events: stream naming and validation, builders (values through the codec), payload
 * upcasting, and the parsed form the views read.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CorruptionError, InvalidKeyError, SerializationError, ValidationError } from '../src/core/errors.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import {
  KEYED,
  keyedEvents,
  keyStream,
  namespaceStream,
  parseKeyedStream,
  toKeyedEvent,
  upcastPayload,
  validateKey,
  validateNamespace,
} from '../src/projections/keyed-events.js';

const recorded = (stream: string, type: string, data: unknown, metadata: Record<string, unknown> = {}): RecordedEvent =>
  ({ id: 'x', stream, revision: 3, position: 9, type, data, metadata, time: new Date(1234) }) as RecordedEvent;

describe('keyed streams', () => {
  it('validateNamespace accepts exactly the valid names, on every call (it remembers the valid ones)', () => {
    const hostile = fc.constantFrom('/', ':', '*', '\0', '\uD800', 'a', 'B', ' ', '.', '-', '\uDC00', '\u00e9');
    const name = fc.oneof(fc.string({ maxLength: 6 }), fc.array(hostile, { maxLength: 6 }).map((xs) => xs.join('')), fc.constantFrom('x'.repeat(128), 'x'.repeat(129)));
    const valid = (s: string) => s.length > 0 && s.length <= 128 && !/[/:*\0]/.test(s) && s.isWellFormed();
    fc.assert(
      fc.property(fc.array(name, { maxLength: 20 }), (names) => {
        for (const n of [...names, ...names]) {
          if (valid(n)) expect(validateNamespace(n)).toBe(n);
          else expect(() => validateNamespace(n)).toThrow(InvalidKeyError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keyStream and namespaceStream parse back to their namespace and key, for any valid pair', () => {
    const ns = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/[/:*\0]/.test(s) && s.isWellFormed());
    const key = fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes('\0') && s.isWellFormed());
    fc.assert(
      fc.property(ns, key, (n, k) => {
        expect(parseKeyedStream(keyStream(n, k))).toEqual({ namespace: n, key: k });
        expect(parseKeyedStream(namespaceStream(n))).toEqual({ namespace: n, key: null });
      }),
    );
  });

  it.each(['', 'a/b', 'a:b', 'a*', 'a\0', '\ud800', 'x'.repeat(129), 7])('namespace %j throws InvalidKeyError', (bad) => {
    expect(() => validateNamespace(bad)).toThrow(InvalidKeyError);
    expect(() => keyStream(bad as string, 'k')).toThrow(InvalidKeyError);
  });

  it.each(['', 'a\0b', '\udc00', 'x'.repeat(600), null])('key %j throws InvalidKeyError', (bad) => {
    expect(() => validateKey(bad, 'default')).toThrow(InvalidKeyError);
  });

  it('keys may hold / : * and any other character, and the longest key fills the log stream limit', () => {
    expect(parseKeyedStream(keyStream('ns', 'a/b:c*'))).toEqual({ namespace: 'ns', key: 'a/b:c*' });
    const longest = 'k'.repeat(512 - 'kv:ns/'.length);
    expect(keyStream('ns', longest)).toHaveLength(512);
    expect(() => keyStream('ns', longest + 'k')).toThrow(InvalidKeyError);
  });

  it('streams outside kv: are not keyed', () => {
    expect(parseKeyedStream('chat-1')).toBeUndefined();
    expect(parseKeyedStream('kv:')).toBeUndefined();
    expect(parseKeyedStream('kv:/a')).toBeUndefined();
  });
});

describe('builders', () => {
  it('set carries value, metadata and expiry; metadata has actor, operation and tx', () => {
    const e = keyedEvents.set({ value: { a: 1 }, metadata: { tag: 'x' }, expiresAt: 5000 }, { actor: 'ann', tx: 't1' });
    expect(e).toEqual({ type: KEYED.set, data: { v: 1, value: { a: 1 }, metadata: { tag: 'x' }, expiresAt: 5000 }, metadata: { operation: 'set', actor: 'ann', tx: 't1' } });
  });

  it('a value the codec cannot encode throws SerializationError with the path, before anything is appended', () => {
    expect(() => keyedEvents.set({ value: { tools: [() => 1] } })).toThrow(SerializationError);
    expect(() => keyedEvents.set({ value: { tools: [1, Symbol('x')] } })).toThrow(expect.objectContaining({ path: '$.tools[1]' }));
  });

  it('bad arguments throw ValidationError', () => {
    expect(() => keyedEvents.set({ value: 1, expiresAt: Number.NaN })).toThrow(ValidationError);
    expect(() => keyedEvents.set({ value: 1, metadata: [] as never })).toThrow(ValidationError);
    expect(() => keyedEvents.incremented(Number.POSITIVE_INFINITY, undefined)).toThrow(ValidationError);
    expect(() => keyedEvents.incremented(1, 'a..b')).toThrow(ValidationError);
    expect(() => keyedEvents.patched('nope' as never)).toThrow(ValidationError);
  });

  it('values round-trip exactly through a log: Date, Map, Set, BigInt and key order', async () => {
    const log = new MemoryEventLog();
    const value = { z: 1, a: new Date(7), m: new Map<unknown, unknown>([[1, new Set(['x'])]]), big: 2n ** 80n };
    await log.append(keyStream('default', 'k'), [keyedEvents.set({ value })]);
    const read: RecordedEvent[] = [];
    for await (const e of log.read(keyStream('default', 'k'))) read.push(e);
    const r = read[0];
    const k = toKeyedEvent(r!)!;
    expect(k.type).toBe(KEYED.set);
    const got = (k.data as { value: typeof value }).value;
    expect(got).toEqual(value);
    expect(Object.keys(got)).toEqual(['z', 'a', 'm', 'big']);
    await log.close();
  });
});

describe('reading keyed events', () => {
  it('toKeyedEvent flattens stream, version, position, time and metadata', () => {
    const k = toKeyedEvent(recorded('kv:ns/a/b', KEYED.deleted, { v: 1 }, { actor: 'bob', operation: 'delete', tx: 't' }));
    expect(k).toEqual({ type: KEYED.deleted, namespace: 'ns', key: 'a/b', data: { v: 1 }, version: 3, position: 9, time: 1234, actor: 'bob', operation: 'delete', tx: 't' });
    expect(toKeyedEvent(recorded('kv:ns/a', 'Other', {}))).toBeUndefined();
  });

  it('a namespace event in a key stream, a key event outside kv:, or a payload without version is CorruptionError', () => {
    expect(() => toKeyedEvent(recorded('kv:ns/a', KEYED.namespaceCreated, { v: 1 }))).toThrow(CorruptionError);
    expect(() => toKeyedEvent(recorded('users', KEYED.set, { v: 1, value: 1 }))).toThrow(CorruptionError);
    expect(() => toKeyedEvent(recorded('kv:ns/a', KEYED.set, { value: 1 }))).toThrow(CorruptionError);
  });

  it('a payload written by a newer dgent is CorruptionError, not a guess', () => {
    expect(() => upcastPayload(KEYED.set, { v: 2, value: 1 }, 'here')).toThrow(/newer dgent/);
  });

  it('old payloads are upcast on read, step by step, and the stored event is left as it was', () => {
    // a hypothetical version 0 that kept the expiry as `ttlAt`: the upcaster renames it
    const stored = Object.freeze({ v: 0, value: 1, ttlAt: 99 });
    const upcasters = { [KEYED.set]: { 0: (d: Record<string, unknown>) => ({ v: 1, value: d.value, expiresAt: d.ttlAt }) } };
    expect(upcastPayload(KEYED.set, stored, 'here', upcasters)).toEqual({ v: 1, value: 1, expiresAt: 99 });
    expect(stored).toEqual({ v: 0, value: 1, ttlAt: 99 });
    expect(() => upcastPayload(KEYED.set, stored, 'here')).toThrow(CorruptionError);
  });
});
