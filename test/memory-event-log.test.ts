import { describe, it, expect } from 'vitest';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { eventLogContract } from '../src/testing/event-log-contract.js';

eventLogContract('MemoryEventLog', () => ({ open: () => new MemoryEventLog() }));

describe('MemoryEventLog', () => {
  it('positions are 1-based and gapless', async () => {
    const log = new MemoryEventLog();
    expect(await log.append('a', [{ type: 'T', data: 1 }])).toEqual({ revision: 1, position: 1 });
    expect(await log.append('b', [{ type: 'T', data: 1 }, { type: 'T', data: 2 }])).toEqual({ revision: 2, position: 3 });
  });
});
