import { describe, it, expect, afterEach } from 'vitest';
import { produce } from 'immer';
import { StreamAgent, type Fold } from '../src/agents/stream-agent.js';
import { MemorySnapshotStore } from '../src/agents/stream/memory-snapshot-store.js';
import { MemoryEventLog } from '../src/streams/memory/memory-event-log.js';
import { ConcurrencyError, StateNotFoundError, ValidationError } from '../src/core/errors.js';
import { dataAgentContract } from '../src/testing/index.js';
import { uniqueName } from './support/services.js';

dataAgentContract(
  'StreamAgent over MemoryEventLog',
  () => {
    const log = new MemoryEventLog();
    const stream = uniqueName('agent');
    return { open: () => new StreamAgent({ log, stream }), cleanup: () => log.close() };
  },
  { reopen: true, requires: ['update', 'versioned', 'subscribe', 'close'] },
);

dataAgentContract(
  'StreamAgent over MemoryEventLog with snapshots every 3 events',
  () => {
    const log = new MemoryEventLog();
    const snapshots = new MemorySnapshotStore();
    const stream = uniqueName('agent');
    return { open: () => new StreamAgent({ log, stream, snapshots, snapshotEvery: 3 }), cleanup: () => log.close() };
  },
  { reopen: true, runs: 100, requires: ['update', 'versioned', 'subscribe', 'close'] },
);

type CounterEvent = { type: 'Added'; data: { n: number } } | { type: 'Tagged'; data: { tag: string } };
interface Counter {
  total: number;
  tags: string[];
}
const counterFold: Fold<CounterEvent, Counter> = (s, e) => {
  switch (e.type) {
    case 'Added':
      return { ...s, total: s.total + e.data.n };
    case 'Tagged':
      return { ...s, tags: [...s.tags, e.data.tag] };
  }
};

describe('StreamAgent', () => {
  const logs: MemoryEventLog[] = [];
  const newLog = (): MemoryEventLog => {
    const l = new MemoryEventLog();
    logs.push(l);
    return l;
  };
  afterEach(async () => {
    for (const l of logs.splice(0)) await l.close();
  });
  const counter = (log = newLog(), stream = 'counter-1') => new StreamAgent<CounterEvent, Counter>({ log, stream, initial: { total: 0, tags: [] }, fold: counterFold });

  it('append then load folds the events over the initial state', async () => {
    const a = counter();
    expect(await a.load()).toEqual({ total: 0, tags: [] });
    const r = await a.append([{ type: 'Added', data: { n: 2 } }, { type: 'Tagged', data: { tag: 'x' } }], { expectedRevision: 'no_stream' });
    expect(r.revision).toBe(2);
    await a.append({ type: 'Added', data: { n: 5 } });
    expect(await a.load()).toEqual({ total: 7, tags: ['x'] });
    expect(Object.isFrozen(await a.load())).toBe(true);
    expect(await a.version()).toBe(3);
  });

  it('append with a stale expectedRevision throws ConcurrencyError and appends nothing', async () => {
    const a = counter();
    await a.append({ type: 'Added', data: { n: 1 } }, { expectedRevision: 0 });
    const err = await a.append({ type: 'Added', data: { n: 1 } }, { expectedRevision: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 0, actual: 1 });
    expect(await a.load()).toEqual({ total: 1, tags: [] });
  });

  it('concurrent appends expecting the same revision: exactly one succeeds', async () => {
    const log = newLog();
    const agents = Array.from({ length: 8 }, () => counter(log));
    const results = await Promise.allSettled(agents.map((a) => a.append({ type: 'Added', data: { n: 1 } }, { expectedRevision: 0 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
    expect(await agents[3]!.load()).toEqual({ total: 1, tags: [] });
  });

  it('append of a reserved $ event type throws ValidationError', async () => {
    const a = counter();
    await expect(a.append({ type: '$state', data: {} } as never)).rejects.toBeInstanceOf(ValidationError);
    expect(await a.version()).toBe(0);
  });

  it('append without a fold throws ValidationError', async () => {
    const a = new StreamAgent({ log: newLog(), stream: 's' });
    await expect(a.append({ type: 'Added', data: {} })).rejects.toBeInstanceOf(ValidationError);
  });

  it('a fold without an initial state is rejected by the constructor', () => {
    expect(() => new StreamAgent({ log: newLog(), stream: 's', fold: counterFold } as never)).toThrow(ValidationError);
  });

  it('a user event in a stream read by an agent without a fold makes load throw ValidationError', async () => {
    const log = newLog();
    await log.append('s', [{ type: 'Added', data: { n: 1 } }]);
    await expect(new StreamAgent({ log, stream: 's' }).load()).rejects.toBeInstanceOf(ValidationError);
  });

  it('save and update mix with domain events: built-ins first, then the fold', async () => {
    const a = counter();
    await a.append({ type: 'Added', data: { n: 1 } });
    await a.save({ total: 100, tags: ['reset'] });
    await a.append({ type: 'Added', data: { n: 1 } });
    expect(await a.update((d) => void d.tags.push('u'))).toEqual({ total: 101, tags: ['reset', 'u'] });
    await a.append({ type: 'Tagged', data: { tag: 'z' } });
    expect(await a.load()).toEqual({ total: 101, tags: ['reset', 'u', 'z'] });
    const types: string[] = [];
    for await (const e of a.log.read('counter-1')) types.push(e.type);
    expect(types).toEqual(['Added', '$state', 'Added', '$patch', 'Tagged']);
  });

  it('history returns the state after each event, newest first', async () => {
    const a = counter();
    for (let i = 1; i <= 5; i++) await a.append({ type: 'Added', data: { n: i } });
    expect((await a.history()).map((s) => s.total)).toEqual([15, 10, 6, 3, 1]);
    expect((await a.history(2)).map((s) => s.total)).toEqual([15, 10]);
  });

  it('loadAt({ revision }) equals loadAt({ version }) and a revision beyond the head throws StateNotFoundError', async () => {
    const a = counter();
    for (let i = 1; i <= 4; i++) await a.append({ type: 'Added', data: { n: i } });
    expect(await a.loadAt({ revision: 2 })).toEqual({ total: 3, tags: [] });
    expect(await a.loadAt({ version: 3 })).toEqual({ total: 6, tags: [] });
    await expect(a.loadAt({ revision: 5 })).rejects.toBeInstanceOf(StateNotFoundError);
    await expect(a.loadAt({ revision: 0 })).rejects.toBeInstanceOf(ValidationError);
  });

  it('loadAt({ time }) returns the state after the last event at or before that time', async () => {
    const a = counter();
    const marks: Date[] = [];
    for (let i = 1; i <= 7; i++) {
      await a.append({ type: 'Added', data: { n: 1 } });
      await new Promise((r) => setTimeout(r, 3));
      marks.push(new Date());
      await new Promise((r) => setTimeout(r, 3));
    }
    for (let i = 0; i < marks.length; i++) expect((await a.loadAt({ time: marks[i]! })).total).toBe(i + 1);
    await expect(a.loadAt({ time: new Date(0) })).rejects.toBeInstanceOf(StateNotFoundError);
    await expect(a.loadAt({ time: 'not a time' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('subscribe delivers the state after each new event, from any instance, in order', async () => {
    const log = newLog();
    const a = counter(log);
    const b = counter(log);
    await a.append({ type: 'Added', data: { n: 1 } });
    const seen: [number, number][] = [];
    const off = a.subscribe((s, info) => seen.push([s.total, info.version]));
    await off.ready;
    await b.append({ type: 'Added', data: { n: 10 } });
    await a.update((d) => void (d.total *= 2));
    await b.save({ total: 0, tags: [] });
    await expect.poll(() => seen.length).toBe(3);
    await off();
    await b.append({ type: 'Added', data: { n: 1 } });
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([
      [11, 2],
      [22, 3],
      [0, 4],
    ]);
  });

  it('subscribe with fromRevision catches up before going live', async () => {
    const a = counter();
    for (let i = 1; i <= 3; i++) await a.append({ type: 'Added', data: { n: i } });
    const seen: number[] = [];
    const off = a.subscribe((s) => seen.push(s.total), { fromRevision: 1 });
    await off.ready;
    await a.append({ type: 'Added', data: { n: 4 } });
    await expect.poll(() => seen).toEqual([3, 6, 10]);
    await off();
  });

  it('update on a stream without state or initial throws StateNotFoundError', async () => {
    const a = new StreamAgent<never, { n: number }>({ log: newLog(), stream: 's' });
    await expect(a.update((d) => void (d.n = 1))).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('the first update of an empty stream appends a whole $state, so replays do not depend on initial', async () => {
    const log = newLog();
    const a = new StreamAgent<never, { n: number }>({ log, stream: 's', initial: { n: 1 } });
    await a.update((d) => void (d.n += 1));
    await a.update((d) => void (d.n += 1));
    const types: string[] = [];
    for await (const e of log.read('s')) types.push(e.type);
    expect(types).toEqual(['$state', '$patch']);
    expect(await new StreamAgent<never, { n: number }>({ log, stream: 's' }).load()).toEqual({ n: 3 });
  });

  it('an update that changes nothing appends nothing', async () => {
    const a = counter();
    await a.append({ type: 'Added', data: { n: 1 } });
    expect(await a.update(() => undefined)).toEqual({ total: 1, tags: [] });
    expect(await a.version()).toBe(1);
    const empty = counter(newLog(), 'empty');
    expect(await empty.update(() => undefined)).toEqual({ total: 0, tags: [] });
    expect(await empty.version()).toBe(0);
  });

  it('update of a state holding bytes stores the whole state, so in-place byte changes are kept', async () => {
    const a = new StreamAgent<never, { b: Uint8Array }>({ log: newLog(), stream: 's' });
    await a.save({ b: new Uint8Array([1, 2]) });
    await a.update((d) => void (d.b[0] = 9));
    expect((await a.load()).b).toEqual(new Uint8Array([9, 2]));
    (await a.load()).b[1] = 77;
    expect((await a.load()).b).toEqual(new Uint8Array([9, 2]));
  });

  it('closing the agent leaves the log open and stops its subscriptions', async () => {
    const log = newLog();
    const a = counter(log);
    const seen: number[] = [];
    const off = a.subscribe((s) => seen.push(s.total));
    await off.ready;
    await a.close();
    await log.append('counter-1', [{ type: 'Added', data: { n: 1 } }]);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([]);
    expect(await counter(log).load()).toEqual({ total: 1, tags: [] });
  });

  it('a fold written with immer produce works', async () => {
    const fold: Fold<CounterEvent, Counter> = (s, e) =>
      produce(s, (d) => {
        if (e.type === 'Added') d.total += e.data.n;
        else d.tags.push(e.data.tag);
      });
    const a = new StreamAgent<CounterEvent, Counter>({ log: newLog(), stream: 's', initial: { total: 0, tags: [] }, fold, snapshotEvery: 2 });
    for (let i = 0; i < 5; i++) await a.append([{ type: 'Added', data: { n: 1 } }, { type: 'Tagged', data: { tag: String(i) } }]);
    expect(await a.load()).toEqual({ total: 5, tags: ['0', '1', '2', '3', '4'] });
    expect(await a.loadAt({ revision: 3 })).toEqual({ total: 2, tags: ['0'] });
  });
});
