/**
 * EventStoreDBEventLog event types that the server reserves (`$`-prefixed: its system types, but
 * also StreamAgent's `$state` / `$patch`): stored escaped (`~` + type, the type in the metadata
 * under `$dgentType`), read back as given, on the gRPC PROTOCOL DOUBLE (test/support/esdb-double).
 * Events stored before the escape existed, and types written by other clients, read as stored.
 * StreamAgent saves, updates, loads and travels in time on the log.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EventStoreDBClient, jsonEvent } from '@eventstore/db-client';
import { StreamAgent, ValidationError } from '../src/index.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import { collect, waitFor } from '../src/testing/event-log-support.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double/esdb-double.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(prefix?: string): Promise<{ double: EsdbDouble; log: EventStoreDBEventLog; raw: EventStoreDBClient }> {
  const double = await startEsdbDouble();
  cleanups.push(() => double.stop());
  const raw = EventStoreDBClient.connectionString(double.connectionString);
  cleanups.push(() => raw.dispose());
  const log = new EventStoreDBEventLog({ connectionString: double.connectionString, prefix });
  cleanups.push(() => log.close());
  return { double, log, raw };
}

describe('EventStoreDBEventLog: any event type round-trips (protocol double)', () => {
  it('every type, $-prefixed or not, reads back as appended through read, readAll (types filter too) and subscribe (fast-check)', async () => {
    const { log } = await setup('p/');
    let n = 0;
    const type = fc.oneof(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 6 }).map((s) => `$${s}`), fc.string({ maxLength: 6 }).map((s) => `~${s}`), fc.constantFrom('$state', '$patch', '~$state', '$metadata'));
    await fc.assert(
      fc.asyncProperty(fc.array(type, { minLength: 1, maxLength: 5 }), async (types) => {
        const stream = `s${n++}`;
        const from = (await collect(log.readAll())).at(-1)?.position ?? 0;
        await log.append(stream, types.map((t, i) => ({ type: t, data: i, metadata: { i } })));
        const read = await collect(log.read(stream));
        expect(read.map((e) => [e.type, e.data, e.metadata])).toEqual(types.map((t, i) => [t, i, { i }]));
        const all = await collect(log.readAll({ fromPosition: from }));
        expect(all.map((e) => e.type)).toEqual(types);
        expect((await collect(log.readAll({ fromPosition: from, types: [types[0]!] }))).map((e) => e.type)).toEqual(types.filter((t) => t === types[0]));
        const seen: RecordedEvent[] = [];
        const sub = log.subscribe({ fromPosition: from }, (e) => void seen.push(e));
        await waitFor(() => seen.length >= types.length, 30_000, 'the events');
        await sub.close();
        expect(seen.map((e) => e.type)).toEqual(types);
      }),
      { numRuns: 30 },
    );
  }, 120_000);

  it('a $ type is stored as ~type with $dgentType in the metadata; events stored before (and other clients\' ~ types) read as stored', async () => {
    const { log, raw } = await setup();
    await raw.appendToStream('s', jsonEvent({ type: '~old', data: { a: 1 }, metadata: { who: 'x' } })); // another client's, or an old one
    await log.append('s', [{ type: '$state', data: { a: 2 } }, { type: '~old', data: 3 }]);
    const onServer = [];
    for await (const r of raw.readStream('s')) onServer.push([r.event!.type, r.event!.metadata]);
    expect(onServer).toEqual([['~old', { who: 'x' }], ['~$state', { $dgentType: '$state' }], ['~old', undefined]]);
    expect((await collect(log.read('s'))).map((e) => [e.type, e.metadata])).toEqual([['~old', { who: 'x' }], ['$state', {}], ['~old', {}]]);
    await expect(log.append('s', [{ type: 'T', data: 1, metadata: { $dgentType: 'x' } }])).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('StreamAgent on EventStoreDBEventLog (protocol double)', () => {
  it('save, update, load, version, loadAt and history work ($state / $patch events)', async () => {
    const { log } = await setup();
    const agent = new StreamAgent<never, { n: number; tags: string[] }>({ log, stream: 'agent-1', initial: { n: 0, tags: [] } });
    cleanups.push(() => agent.close());
    await agent.save({ n: 1, tags: [] });
    await agent.update((d) => {
      d.n = 2;
      d.tags.push('a');
    });
    await agent.save({ n: 3, tags: ['a', 'b'] }, { expectedVersion: 2 });
    expect(await agent.load()).toEqual({ n: 3, tags: ['a', 'b'] });
    expect(await agent.version()).toBe(3);
    expect(await agent.loadAt({ version: 2 })).toEqual({ n: 2, tags: ['a'] });
    expect(await agent.history()).toEqual([{ n: 3, tags: ['a', 'b'] }, { n: 2, tags: ['a'] }, { n: 1, tags: [] }]);
    expect((await collect(log.read('agent-1'))).map((e) => e.type)).toEqual(['$state', '$patch', '$state']);
    // a fresh agent folds the stored events again
    const again = new StreamAgent<never, { n: number; tags: string[] }>({ log, stream: 'agent-1', initial: { n: 0, tags: [] } });
    cleanups.push(() => again.close());
    expect(await again.load()).toEqual({ n: 3, tags: ['a', 'b'] });
  });
});
