import { describe, it, expect } from 'vitest';
import { ConcurrencyError, SerializationError, ValidationError, ClosedError } from '../src/core/errors.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { eventLogContract } from '../src/testing/event-log-contract.js';
import { collect, waitFor } from '../src/testing/event-log-support.js';

eventLogContract('MemoryEventLog', () => ({ open: () => new MemoryEventLog() }), { requires: ['appendMany', 'onAppend'] });
// tiny pages put many catch-up/live handovers into every subscription test
eventLogContract('MemoryEventLog with pageSize 2', () => ({ open: () => new MemoryEventLog({ pageSize: 2 }) }), { runs: 20, requires: ['appendMany', 'onAppend'] });

const ev = (type = 'T', data: unknown = null) => ({ type, data });

describe('MemoryEventLog', () => {
  it('append returns 1-based gapless positions across streams', async () => {
    const log = new MemoryEventLog();
    expect(await log.append('a', [ev()])).toEqual({ revision: 1, position: 1 });
    expect(await log.append('b', [ev(), ev()])).toEqual({ revision: 2, position: 3 });
    await expect(log.append('a', [ev()], { expectedRevision: 'no_stream' })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await log.append('a', [ev()])).toEqual({ revision: 2, position: 4 });
  });

  it('reads hand out the stored frozen event itself, without copying', async () => {
    const log = new MemoryEventLog();
    await log.append('a', [ev('T', { deep: { x: 1 } })]);
    const [r1] = await collect(log.read('a'));
    const [r2] = await collect(log.readAll());
    expect(r1).toBe(r2);
    expect(Object.isFrozen(r1)).toBe(true);
    expect(Object.isFrozen(r1!.time)).toBe(true);
  });

  it('new MemoryEventLog with pageSize 0 throws ValidationError', () => {
    expect(() => new MemoryEventLog({ pageSize: 0 })).toThrow(ValidationError);
  });

  it('appendMany checks a stream named twice in order, as if appended one after the other', async () => {
    const log = new MemoryEventLog();
    const res = await log.appendMany([
      { stream: 's', events: [ev()], expectedRevision: 'no_stream' },
      { stream: 's', events: [ev(), ev()], expectedRevision: 1 },
    ]);
    expect(res).toEqual([{ revision: 1, position: 1 }, { revision: 3, position: 3 }]);
    await expect(log.appendMany([{ stream: 't', events: [ev()] }, { stream: 't', events: [ev()], expectedRevision: 'no_stream' }])).rejects.toMatchObject({ expected: 'no_stream', actual: 1 });
    expect(await log.revision('t')).toBe(0);
    await expect(log.appendMany([])).rejects.toBeInstanceOf(ValidationError);
    await expect(log.appendMany([{ stream: 'u', events: [ev()] }, { stream: 'v', events: [ev('T', () => 1)] }])).rejects.toBeInstanceOf(SerializationError);
    expect(await log.revision('u')).toBe(0);
  });

  it('appendMany treats a part that exactly repeats a stored batch as a retry and appends the others', async () => {
    const log = new MemoryEventLog();
    const first = await log.append('s', [{ id: 'x1', ...ev() }]);
    const res = await log.appendMany([
      { stream: 's', events: [{ id: 'x1', ...ev() }], expectedRevision: 'no_stream' },
      { stream: 't', events: [ev()] },
    ]);
    expect(res).toEqual([first, { revision: 1, position: 2 }]);
  });

  it('an async onAppend hook runs before the events are visible, and appends wait for it in order', async () => {
    const log = new MemoryEventLog();
    const visibleDuringHook: number[] = [];
    log.onAppend(async (evs) => {
      visibleDuringHook.push((await collect(log.readAll())).length);
      await new Promise((r) => setTimeout(r, 2));
      expect(await log.revision(evs[0]!.stream)).toBe(evs[0]!.revision - 1);
    });
    const results = await Promise.all([1, 2, 3].map((i) => log.append('s', [ev(`E${i}`)])));
    expect(results.map((r) => r.revision)).toEqual([1, 2, 3]);
    expect(visibleDuringHook).toEqual([0, 1, 2]);
    expect((await collect(log.read('s'))).map((e) => e.type)).toEqual(['E1', 'E2', 'E3']);
  });

  it('a hook abort runs every registered rollback newest first, keeps positions gapless, and onCommit runs only on success', async () => {
    const log = new MemoryEventLog();
    const trail: string[] = [];
    log.onAppend((evs, tx) => {
      tx.onRollback(() => trail.push('undo-1'));
      tx.onCommit(() => trail.push(`commit ${evs.map((e) => e.position).join(',')}`));
    });
    log.onAppend((evs, tx) => {
      tx.onRollback(() => trail.push('undo-2'));
      if (evs[0]!.type === 'Bad') throw new Error('no');
    });
    await expect(log.append('s', [ev('Bad')])).rejects.toThrow('no');
    expect(trail).toEqual(['undo-2', 'undo-1']);
    expect(await log.append('s', [ev(), ev()])).toEqual({ revision: 2, position: 2 });
    expect(trail).toEqual(['undo-2', 'undo-1', 'commit 1,2']);
  });

  it('a failing rollback is reported with the hook error in an AggregateError', async () => {
    const log = new MemoryEventLog();
    log.onAppend((_, tx) => tx.onRollback(() => {
      throw new Error('rollback broke');
    }));
    log.onAppend(() => {
      throw new Error('hook broke');
    });
    const err = await log.append('s', [ev()]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors.map((e: Error) => e.message)).toEqual(['hook broke', 'rollback broke']);
    expect(await log.revision('s')).toBe(0);
  });

  it('close waits for an append inside a slow hook, and an append queued behind it gets ClosedError', async () => {
    const log = new MemoryEventLog();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    log.onAppend(() => gate);
    const inFlight = log.append('s', [ev()]);
    const queued = log.append('s', [ev()]);
    await new Promise((r) => setTimeout(r, 5));
    let closed = false;
    const closing = log.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 5));
    expect(closed).toBe(false);
    release();
    await closing;
    await expect(inFlight).resolves.toEqual({ revision: 1, position: 1 });
    await expect(queued).rejects.toBeInstanceOf(ClosedError);
    expect(() => log.onAppend(() => undefined)).toThrow(ClosedError);
  });

  it('a subscriber sees events only after the hooks accepted them', async () => {
    const log = new MemoryEventLog();
    log.onAppend((evs) => {
      if (evs.some((e) => e.type === 'Rejected')) throw new Error('rejected');
    });
    const seen: RecordedEvent[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e));
    await log.append('s', [ev('Ok')]);
    await expect(log.append('s', [ev('Rejected')])).rejects.toThrow('rejected');
    await log.append('s', [ev('Ok2')]);
    await waitFor(() => seen.length >= 2, 20_000, 'two events');
    await sub.close();
    expect(seen.map((e) => [e.type, e.position])).toEqual([['Ok', 1], ['Ok2', 2]]);
  });
});
