/**
 * EventStoreDBEventLog.eraseStream (the StreamEraser capability) and the Store's purge on it, on
 * the gRPC PROTOCOL DOUBLE (test/support/esdb-double), which keeps truncated events in $all as the
 * server does until a scavenge: an erased event is returned by no read (read, readAll, subscribe),
 * the stream's truncate-before is set on the server, later events and other streams are untouched,
 * and a Store purge leaves no value in what the log returns nor in the views, also after a rebuild.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import { SqliteViewStorage, Store, ValidationError } from '../src/index.js';
import { EventStoreDBEventLog } from '../src/eventstoredb.js';
import { collect, waitFor } from '../src/testing/event-log-support.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { startEsdbDouble, type EsdbDouble } from './support/esdb-double/esdb-double.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(prefix?: string): Promise<{ double: EsdbDouble; log: EventStoreDBEventLog }> {
  const double = await startEsdbDouble();
  cleanups.push(() => double.stop());
  const log = new EventStoreDBEventLog({ connectionString: double.connectionString, prefix });
  cleanups.push(() => log.close());
  return { double, log };
}

describe('EventStoreDBEventLog.eraseStream (protocol double)', () => {
  it('events below the revision are returned by no read; the rest and other streams are untouched (fast-check)', async () => {
    const { log } = await setup('app/');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 3 }), async (count, befores) => {
        const s = `s${n}`;
        const o = `o${n++}`;
        const from = (await collect(log.readAll())).at(-1)?.position ?? 0;
        for (let i = 1; i <= count; i++) {
          await log.append(s, [{ type: 'T', data: `secret-${s}-${i}` }]);
          await log.append(o, [{ type: 'T', data: i }]);
        }
        let erased = 1; // the highest before applied
        for (const b of befores) {
          if (b > count) {
            await expect(log.eraseStream(s, b)).rejects.toBeInstanceOf(ValidationError);
            continue;
          }
          const now = await log.eraseStream(s, b);
          expect(now).toBe(Math.max(0, b - erased));
          erased = Math.max(erased, b);
        }
        const kept = Array.from({ length: count - erased + 1 }, (_, i) => erased + i);
        expect((await collect(log.read(s))).map((e) => e.revision)).toEqual(kept);
        expect((await collect(log.read(s, { direction: 'backward' }))).map((e) => e.revision)).toEqual([...kept].reverse());
        expect(await log.revision(s)).toBe(count);
        const all = await collect(log.readAll({ fromPosition: from }));
        expect(all.filter((e) => e.stream === s).map((e) => e.revision)).toEqual(kept);
        expect(all.filter((e) => e.stream === o)).toHaveLength(count);
        const seen: RecordedEvent[] = [];
        const sub = log.subscribe({ fromPosition: from }, (e) => void seen.push(e));
        await waitFor(() => seen.length >= kept.length + count, 30_000, 'the kept events');
        await sub.close();
        expect(seen.filter((e) => e.stream === s).map((e) => e.revision)).toEqual(kept);
        // the stream goes on at the next revision
        await log.append(s, [{ type: 'T', data: 'after' }], { expectedRevision: count });
        expect((await collect(log.read(s))).at(-1)!.revision).toBe(count + 1);
      }),
      { numRuns: 25 },
    );
  }, 180_000);

  it('sets the truncate-before of the stream on the server, keeping its other metadata', async () => {
    const { double, log } = await setup();
    const raw = EventStoreDBClient.connectionString(double.connectionString);
    cleanups.push(() => raw.dispose());
    await raw.setStreamMetadata('s', { maxAge: 3600, custom: 'x' });
    await log.append('s', [1, 2, 3].map((i) => ({ type: 'T', data: i })));
    expect(await log.eraseStream('s', 3)).toBe(2);
    expect((await raw.getStreamMetadata('s')).metadata).toEqual({ maxAge: 3600, custom: 'x', truncateBefore: 2 });
    expect(await log.eraseStream('s', 3)).toBe(0); // again: nothing more
    expect(await log.eraseStream('s', 1)).toBe(0);
    await expect(log.eraseStream('s', 0)).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('Store.purge on EventStoreDBEventLog (protocol double)', () => {
  it('purge removes the values from what the log returns and from every view, also after a rebuild; an audit entry without data stays', async () => {
    const { double, log } = await setup();
    const dir = mkdtempSync(join(tmpdir(), 'dgent-esdb-purge-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const views = new SqliteViewStorage({ path: join(dir, 'views.db') });
    cleanups.push(() => views.close());
    const store = new Store({ log, views, sweepIntervalMs: 0 });
    cleanups.push(() => store.close());
    await store.set('pii', { email: 'a@b.c' }, { actor: 'u' });
    await store.set('pii', { email: 'x@y.z' }, { actor: 'u' });
    await store.set('other', 1);
    await store.purge('pii', { actor: 'dpo' });
    expect(await store.get('pii')).toBeUndefined();
    expect(await store.versions('pii')).toEqual([]);
    expect((await store.audit({ key: 'pii' })).map((a) => [a.operation, a.actor, a.metadata])).toEqual([['purge', 'dpo', null]]);
    const texts = (await collect(log.readAll())).map((e) => JSON.stringify(e.data)).join('\n');
    expect(texts).not.toContain('a@b.c');
    expect(texts).not.toContain('x@y.z');
    expect((await collect(log.read('kv:default/pii'))).map((e) => e.type)).toEqual(['kv.purged']);
    // the server still holds them in $all until a scavenge: what the double keeps
    expect(double.store.all.some((e) => Buffer.from(e.data).toString().includes('a@b.c'))).toBe(true);
    await store.rebuildViews();
    expect(await store.get('pii')).toBeUndefined();
    expect(await store.versions('pii')).toEqual([]);
    expect((await store.audit({ key: 'pii' })).map((a) => a.operation)).toEqual(['purge']);
    expect(await store.get('other')).toBe(1);
    await store.set('pii', 'again');
    expect(await store.get('pii')).toBe('again');
  });
});
