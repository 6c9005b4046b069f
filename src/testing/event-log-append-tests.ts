/** EventLog contract: append, expected revisions, ids, validation. */
import { it, expect } from 'vitest';
import { ConcurrencyError, InvalidKeyError, SerializationError, ValidationError } from '../core/errors.js';
import type { ExpectedRevision } from '../streams/event-log.js';
import type { ContractContext } from './event-log-contract.js';
import { collect, events, shape } from './event-log-support.js';

export function appendTests(ctx: ContractContext): void {
  it('append to a new stream returns revision n and read returns 1-based gapless revisions', async () => {
    const log = await ctx.log();
    const r1 = await log.append('s', events(3));
    expect(r1.revision).toBe(3);
    const r2 = await log.append('s', events(2, 'Tock', 4));
    expect(r2.revision).toBe(5);
    expect(r2.position).toBeGreaterThan(r1.position);
    const read = await collect(log.read('s'));
    expect(read.map((e) => e.revision)).toEqual([1, 2, 3, 4, 5]);
    expect(read.map((e) => e.data)).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })));
    expect(read.map((e) => e.type)).toEqual(['Tick', 'Tick', 'Tick', 'Tock', 'Tock']);
    expect(read[2]!.position).toBe(r1.position);
    expect(read[4]!.position).toBe(r2.position);
    for (const e of read) {
      expect(e.stream).toBe('s');
      expect(e.metadata).toEqual({});
      expect(e.time).toBeInstanceOf(Date);
      expect(typeof e.id).toBe('string');
    }
    expect(await log.revision('s')).toBe(5);
    expect(await log.revision('other')).toBe(0);
  });

  it('positions are strictly increasing across streams in append order', async () => {
    const log = await ctx.log();
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await log.append(`s${i % 3}`, events(1 + (i % 2))));
    for (let i = 1; i < results.length; i++) expect(results[i]!.position).toBeGreaterThan(results[i - 1]!.position);
    const all = await collect(log.readAll());
    expect(all).toHaveLength(18);
    for (let i = 1; i < all.length; i++) expect(all[i]!.position).toBeGreaterThan(all[i - 1]!.position);
    expect(all[all.length - 1]!.position).toBe(results[results.length - 1]!.position);
  });

  const successes: [string, ExpectedRevision, number][] = [
    ["'no_stream' on a missing stream", 'no_stream', 0],
    ['0 on a missing stream', 0, 0],
    ["'any' on a missing stream", 'any', 0],
    ["'any' on an existing stream", 'any', 2],
    ["'stream_exists' on an existing stream", 'stream_exists', 2],
    ['the current revision', 2, 2],
  ];
  for (const [title, expected, before] of successes) {
    it(`append with expectedRevision ${title} succeeds`, async () => {
      const log = await ctx.log();
      if (before > 0) await log.append('s', events(before));
      const r = await log.append('s', events(1, 'Next'), { expectedRevision: expected });
      expect(r.revision).toBe(before + 1);
      expect(await log.revision('s')).toBe(before + 1);
    });
  }

  const conflicts: [string, ExpectedRevision, number][] = [
    ["'no_stream' on an existing stream", 'no_stream', 2],
    ['0 on an existing stream', 0, 2],
    ["'stream_exists' on a missing stream", 'stream_exists', 0],
    ['a stale revision', 1, 2],
    ['a future revision', 3, 2],
    ['a revision on a missing stream', 1, 0],
  ];
  for (const [title, expected, before] of conflicts) {
    it(`append with expectedRevision ${title} throws ConcurrencyError with expected and actual and appends nothing`, async () => {
      const log = await ctx.log();
      if (before > 0) await log.append('s', events(before));
      const err = await log.append('s', events(1, 'Next'), { expectedRevision: expected }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ expected, actual: before });
      expect(await log.revision('s')).toBe(before);
      expect(await collect(log.readAll())).toHaveLength(before);
    });
  }

  it(`${ctx.options.concurrentAppenders} concurrent appends with the same expectedRevision: exactly one wins`, async () => {
    const log = await ctx.log();
    await log.append('s', events(2));
    const n = ctx.options.concurrentAppenders;
    const settled = await Promise.allSettled(Array.from({ length: n }, (_, i) => log.append('s', events(2, `W${i}`), { expectedRevision: 2 })));
    const won = settled.filter((s) => s.status === 'fulfilled');
    const lost = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(won).toHaveLength(1);
    for (const l of lost) {
      expect(l.reason).toBeInstanceOf(ConcurrencyError);
      expect(l.reason).toMatchObject({ expected: 2, actual: 4 });
    }
    expect(await log.revision('s')).toBe(4);
    const types = (await collect(log.read('s'))).map((e) => e.type);
    expect(types.slice(2)).toEqual([types[2], types[2]]);
  });

  it('append with an invalid expectedRevision throws ValidationError', async () => {
    const log = await ctx.log();
    for (const bad of [-1, 1.5, 'latest', null, NaN]) {
      await expect(log.append('s', events(1), { expectedRevision: bad as ExpectedRevision })).rejects.toBeInstanceOf(ValidationError);
    }
    expect(await log.revision('s')).toBe(0);
  });

  it('stream names and event types that are empty, too long or hold NUL throw InvalidKeyError and append nothing', async () => {
    const log = await ctx.log();
    for (const bad of ['', 'x'.repeat(513), 'a\0b']) {
      await expect(log.append(bad, events(1))).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(log.append('s', [{ type: bad, data: 1 }])).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(log.revision(bad)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(collect(log.read(bad))).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await expect(log.append('s', [])).rejects.toBeInstanceOf(ValidationError);
    expect(await log.append('x'.repeat(512), events(1))).toMatchObject({ revision: 1 });
    expect(await log.append('名前 with spaces/and:punct', [{ type: 'é'.repeat(512), data: null }])).toMatchObject({ revision: 1 });
    expect(await collect(log.readAll())).toHaveLength(2);
  });

  it('append with data that cannot be serialised throws SerializationError with the path and appends nothing of the batch', async () => {
    const log = await ctx.log();
    await log.append('s', events(1));
    const bad = [{ type: 'Ok', data: { fine: true } }, { type: 'Bad', data: { tools: [{}, { handler: () => 1 }] } }];
    const err = await log.append('s', bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SerializationError);
    // the path starts at the batch, so it names the event: $[1] is the second event of the append
    expect((err as SerializationError).path).toBe('$[1].data.tools[1].handler');
    expect((err as SerializationError).code).toBe('SERIALIZATION');
    await expect(log.append('s', [{ type: 'Bad', data: 1, metadata: { s: Symbol('x') } }])).rejects.toBeInstanceOf(SerializationError);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(log.append('t', [{ type: 'Bad', data: cyclic }])).rejects.toBeInstanceOf(SerializationError);
    expect(await log.revision('s')).toBe(1);
    expect(await log.revision('t')).toBe(0);
    expect((await collect(log.readAll())).map(shape)).toEqual([{ stream: 's', revision: 1, type: 'Tick', data: { n: 1 } }]);
  });

  it('append generates unique ids when absent and keeps the ids and metadata given', async () => {
    const log = await ctx.log();
    await log.append('s', events(5));
    await log.append('t', [{ id: 'my-id-1', type: 'Named', data: 1, metadata: { actor: 'ann', at: 3 } }]);
    const all = await collect(log.readAll());
    expect(new Set(all.map((e) => e.id)).size).toBe(6);
    expect(all[5]).toMatchObject({ id: 'my-id-1', metadata: { actor: 'ann', at: 3 } });
  });

  it('append repeating a stored batch with the same ids returns the original result and appends nothing (idempotent retry)', async () => {
    const log = await ctx.log();
    const batch = [
      { id: 'a-1', type: 'T', data: 1 },
      { id: 'a-2', type: 'T', data: 2 },
    ];
    const first = await log.append('s', batch, { expectedRevision: 'no_stream' });
    await log.append('other', events(1));
    expect(await log.append('s', batch, { expectedRevision: 'no_stream' })).toEqual(first);
    expect(await log.append('s', batch)).toEqual(first);
    expect(await log.revision('s')).toBe(2);
    expect(await collect(log.readAll())).toHaveLength(3);
  });

  it('append reusing a stored id outside an exact retry throws ValidationError and appends nothing', async () => {
    const log = await ctx.log();
    await log.append('s', [
      { id: 'a-1', type: 'T', data: 1 },
      { id: 'a-2', type: 'T', data: 2 },
    ]);
    await expect(log.append('s', [{ id: 'a-1', type: 'T', data: 1 }, { id: 'new', type: 'T', data: 3 }])).rejects.toBeInstanceOf(ValidationError);
    await expect(log.append('s', [{ id: 'a-2', type: 'T', data: 2 }, { id: 'a-1', type: 'T', data: 1 }])).rejects.toBeInstanceOf(ValidationError);
    await expect(log.append('t', [{ id: 'a-1', type: 'T', data: 1 }])).rejects.toBeInstanceOf(ValidationError);
    await expect(log.append('u', [{ id: 'dup', type: 'T', data: 1 }, { id: 'dup', type: 'T', data: 1 }])).rejects.toBeInstanceOf(ValidationError);
    expect(await collect(log.readAll())).toHaveLength(2);
    expect(await log.revision('t')).toBe(0);
    expect(await log.revision('u')).toBe(0);
  });
}
