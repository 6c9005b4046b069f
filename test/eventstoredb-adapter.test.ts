/**
 * EventStoreDBEventLog beyond the contract: what it puts on the wire (revision and position
 * mapping, JSON codec trees, UUID ids), what it hides, and how failures surface. Runs against the
 * in-process gRPC PROTOCOL DOUBLE (test/support/esdb-double), through the official client on both
 * sides: it checks our wire usage, not a real server's semantics.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EventStoreDBClient, jsonEvent, type ResolvedEvent } from '@eventstore/db-client';
import { BackendUnavailableError, ConcurrencyError, InvalidKeyError, ValidationError } from '../src/core/errors.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { collect, waitFor } from '../src/testing/event-log-support.js';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double/esdb-double.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(options: { batchAppend?: boolean; prefix?: string } = {}): Promise<{ double: EsdbDouble; log: EventStoreDBEventLog; raw: EventStoreDBClient }> {
  const double = await startEsdbDouble({ batchAppend: options.batchAppend });
  cleanups.push(() => double.stop());
  const raw = EventStoreDBClient.connectionString(double.connectionString);
  cleanups.push(() => raw.dispose());
  const log = new EventStoreDBEventLog({ connectionString: double.connectionString, prefix: options.prefix });
  cleanups.push(() => log.close());
  return { double, log, raw };
}

async function rawRead(raw: EventStoreDBClient, stream: string): Promise<ResolvedEvent[]> {
  const out: ResolvedEvent[] = [];
  for await (const r of raw.readStream(stream)) out.push(r);
  return out;
}

describe('EventStoreDBEventLog wire mapping (protocol double)', () => {
  it('append stores dgent revision n as server revision n - 1, the codec tree as JSON, and the commit position as position', async () => {
    const { log, raw } = await setup();
    const r = await log.append('s', [{ type: 'A', data: { n: 1 } }, { type: 'B', data: { at: new Date(3), tags: new Set(['x']) } }]);
    const onServer = await rawRead(raw, 's');
    expect(onServer.map((e) => e.event!.revision)).toEqual([0n, 1n]);
    expect(onServer.map((e) => e.event!.isJson)).toEqual([true, true]);
    expect(onServer[1]!.event!.data).toEqual({ at: { $dgent: 'Date', v: 3 }, tags: { $dgent: 'Set', v: ['x'] } });
    expect(r).toEqual({ revision: 2, position: Number(onServer[1]!.event!.position!.commit) });
    const read = await collect(log.read('s'));
    expect(read.map((e) => e.position)).toEqual(onServer.map((e) => Number(e.event!.position!.commit)));
    expect(read[1]!.data).toEqual({ at: new Date(3), tags: new Set(['x']) });
  });

  it('a stream written by another client at server revisions 0..2 reads as dgent revisions 1..3, and expectedRevision 3 appends', async () => {
    const { log, raw } = await setup();
    await raw.appendToStream('s', [1, 2, 3].map((n) => jsonEvent({ type: 'T', data: { n } })));
    expect((await collect(log.read('s'))).map((e) => [e.revision, e.data])).toEqual([[1, { n: 1 }], [2, { n: 2 }], [3, { n: 3 }]]);
    expect(await log.revision('s')).toBe(3);
    const err = await log.append('s', [{ type: 'T', data: 4 }], { expectedRevision: 2 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConcurrencyError);
    expect(err).toMatchObject({ expected: 2, actual: 3 });
    expect(await log.append('s', [{ type: 'T', data: 4 }], { expectedRevision: 3 })).toMatchObject({ revision: 4 });
    expect((await rawRead(raw, 's')).map((e) => e.event!.revision)).toEqual([0n, 1n, 2n, 3n]);
  });

  for (const batchAppend of [true, false]) {
    it(`appends go through ${batchAppend ? 'BatchAppend (servers that advertise it)' : 'Append (servers that do not)'} and conflicts map to ConcurrencyError`, async () => {
      const { log, double } = await setup({ batchAppend });
      await log.append('s', [{ type: 'T', data: 1 }], { expectedRevision: 'no_stream' });
      await expect(log.append('s', [{ type: 'T', data: 2 }], { expectedRevision: 'no_stream' })).rejects.toMatchObject({ expected: 'no_stream', actual: 1 });
      await expect(log.append('t', [{ type: 'T', data: 2 }], { expectedRevision: 'stream_exists' })).rejects.toMatchObject({ expected: 'stream_exists', actual: 0 });
      expect(double.calls.get(batchAppend ? 'BatchAppend' : 'Append')).toBeGreaterThan(0);
      expect(double.calls.get(batchAppend ? 'Append' : 'BatchAppend')).toBeUndefined();
    });
  }

  it('a lowercase UUID id is the server id; any other id is stored as a name-based UUID and reads back unchanged', async () => {
    const { log, raw } = await setup();
    const uuid = '0f8fad5b-d9cb-469f-a165-70867728950e';
    await log.append('s', [{ id: uuid, type: 'T', data: 1 }, { id: 'not a uuid', type: 'T', data: 2, metadata: { who: 'ann' } }]);
    const onServer = await rawRead(raw, 's');
    expect(onServer[0]!.event!.id).toBe(uuid);
    expect(onServer[1]!.event!.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(onServer[1]!.event!.metadata).toEqual({ who: 'ann', $dgentId: 'not a uuid' });
    expect((await collect(log.read('s'))).map((e) => [e.id, e.metadata])).toEqual([[uuid, {}], ['not a uuid', { who: 'ann' }]]);
    await expect(log.append('s', [{ type: 'T', data: 3, metadata: { $dgentId: 'x' } }])).rejects.toBeInstanceOf(ValidationError);
  });

  it('names reserved by the server ($ streams) and by the id claims throw InvalidKeyError and append nothing', async () => {
    const { log, double } = await setup();
    await expect(log.append('$stats', [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(log.append('dgent-id-x', [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(log.revision('$all')).rejects.toBeInstanceOf(InvalidKeyError);
    expect(() => log.subscribe({ stream: '$ce-x' }, () => undefined)).toThrow(InvalidKeyError);
    expect(double.store.all).toHaveLength(0);
  });
});

describe('EventStoreDBEventLog visibility (protocol double)', () => {
  it('readAll, subscribe and read leave out system events, system streams and id claims', async () => {
    const { log, raw } = await setup();
    await log.append('s', [{ id: 'claimed', type: 'T', data: 1 }]);
    await raw.appendToStream('$stats-node', jsonEvent({ type: 'StatsCollected', data: {} }));
    await raw.appendToStream('s', jsonEvent({ type: '$metadata', data: {} }));
    await log.append('s', [{ type: 'T', data: 2 }]);
    const want = ['s1', 's3'];
    expect((await collect(log.readAll())).map((e) => `${e.stream}${e.revision}`)).toEqual(want);
    expect((await collect(log.read('s'))).map((e) => e.revision)).toEqual([1, 3]);
    const seen: RecordedEvent[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e));
    await log.append('s', [{ type: 'T', data: 3 }]);
    await waitFor(() => seen.length >= 3, 30_000, '3 events');
    await sub.close();
    expect(seen.map((e) => `${e.stream}${e.revision}`)).toEqual([...want, 's4']);
  });

  it('logs with different prefixes share a server without seeing each other', async () => {
    const { log: a, double } = await setup({ prefix: 'app-a/' });
    const b = new EventStoreDBEventLog({ connectionString: double.connectionString, prefix: 'app-b/' });
    cleanups.push(() => b.close());
    await a.append('s', [{ type: 'A', data: 1 }]);
    await b.append('s', [{ type: 'B', data: 1 }, { type: 'B', data: 2 }]);
    await a.append('s', [{ type: 'A', data: 2 }], { expectedRevision: 1 });
    expect((await collect(a.readAll())).map((e) => e.type)).toEqual(['A', 'A']);
    expect((await collect(b.read('s'))).map((e) => e.type)).toEqual(['B', 'B']);
    expect(double.store.all.map((e) => e.stream)).toEqual(['app-a/s', 'app-b/s', 'app-b/s', 'app-a/s']);
    const seen: string[] = [];
    const sub = b.subscribe({}, (e) => void seen.push(e.type));
    await waitFor(() => seen.length >= 2, 30_000, "b's 2 events");
    await a.append('s', [{ type: 'A', data: 3 }]);
    await b.append('s', [{ type: 'B', data: 3 }]);
    await waitFor(() => seen.length >= 3, 30_000, "b's 3rd event");
    await sub.close();
    expect(seen).toEqual(['B', 'B', 'B']);
  });
});

describe('EventStoreDBEventLog failures (protocol double)', () => {
  it('a server that is not there: append, read, readAll and revision reject with BackendUnavailableError', async () => {
    const gone = await startEsdbDouble();
    await gone.stop();
    const log = new EventStoreDBEventLog({ connectionString: gone.connectionString });
    cleanups.push(() => log.close());
    await expect(log.append('s', [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(collect(log.read('s'))).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(collect(log.readAll())).rejects.toBeInstanceOf(BackendUnavailableError);
    await expect(log.revision('s')).rejects.toBeInstanceOf(BackendUnavailableError);
  });

  it('the server going away under a live subscription rejects done with BackendUnavailableError', async () => {
    const { log, double } = await setup();
    await log.append('s', [{ type: 'T', data: 1 }]);
    const seen: number[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e.revision));
    await waitFor(() => seen.length >= 1, 30_000, 'the first event');
    await double.stop();
    await expect(sub.done).rejects.toBeInstanceOf(BackendUnavailableError);
    expect(seen).toEqual([1]);
  });
});
