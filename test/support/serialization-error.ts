/** The check shared by the config-error tests: a SerializationError in an append names the event. */
import { expect } from 'vitest';
import { SerializationError } from '../../src/core/errors.js';
import type { EventLog } from '../../src/streams/event-log.js';
import { rejection } from './errors.js';

/**
 * Append a batch whose third event holds a function in its data, then one whose second event holds
 * a function in its metadata. Each must fail with a SerializationError naming the
 * stream, the index, the type and the path from the batch, and append nothing.
 */
export async function expectSerializationErrorNamesTheEvent(log: EventLog): Promise<void> {
  const stream = 'chat-serialization';
  const bad = await rejection(
    log.append(stream, [
      { type: 'UserSaid', data: { text: 'hi' } },
      { type: 'UserSaid', data: { text: 'again' } },
      { type: 'ToolCalled', data: { tools: [{ name: 'x', handler: () => 1 }] } },
    ]),
  );
  expect(bad).toBeInstanceOf(SerializationError);
  const e = bad as SerializationError;
  expect(e.path).toBe('$[2].data.tools[0].handler');
  expect(e.message).toContain('event 2 (type "ToolCalled")');
  expect(e.message).toContain(`stream "${stream}"`);
  expect(e.message).toContain('$[2].data.tools[0].handler');
  const meta = (await rejection(
    log.append(stream, [
      { type: 'UserSaid', data: { text: 'hi' } },
      { type: 'Traced', data: {}, metadata: { span: { end: () => 0 } } },
    ]),
  )) as SerializationError;
  expect(meta).toBeInstanceOf(SerializationError);
  expect(meta.path).toBe('$[1].metadata.span.end');
  expect(meta.message).toContain('event 1 (type "Traced")');
  expect(await log.revision(stream)).toBe(0);
}
