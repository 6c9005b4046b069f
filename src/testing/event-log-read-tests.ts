/** EventLog contract: read windows, readAll, round trips. */
import { it, expect } from 'vitest';
import fc from 'fast-check';
import { ValidationError } from '../core/errors.js';
import type { ReadOptions } from '../streams/event-log.js';
import { arbitraryExtendedState } from './values.js';
import type { ContractContext } from './event-log-contract.js';
import { appendConcurrently, collect, events, isDeepFrozen } from './event-log-support.js';

export function readTests(ctx: ContractContext): void {
  const windows: [string, ReadOptions | undefined, number[]][] = [
    ['no options', undefined, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ['fromRevision 4', { fromRevision: 4 }, [4, 5, 6, 7, 8, 9, 10]],
    ['fromRevision 3, toRevision 6', { fromRevision: 3, toRevision: 6 }, [3, 4, 5, 6]],
    ['fromRevision 3, limit 2', { fromRevision: 3, limit: 2 }, [3, 4]],
    ['toRevision 2', { toRevision: 2 }, [1, 2]],
    ['limit 0', { limit: 0 }, []],
    ['fromRevision past the end', { fromRevision: 11 }, []],
    ['toRevision past the end', { fromRevision: 9, toRevision: 50 }, [9, 10]],
    ['fromRevision above toRevision', { fromRevision: 6, toRevision: 3 }, []],
    ['backward', { direction: 'backward' }, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]],
    ['backward, limit 3', { direction: 'backward', limit: 3 }, [10, 9, 8]],
    ['backward fromRevision 5', { direction: 'backward', fromRevision: 5 }, [5, 4, 3, 2, 1]],
    ['backward fromRevision 7, toRevision 4', { direction: 'backward', fromRevision: 7, toRevision: 4 }, [7, 6, 5, 4]],
    ['backward fromRevision past the end, limit 2', { direction: 'backward', fromRevision: 99, limit: 2 }, [10, 9]],
  ];
  for (const [title, options, expected] of windows) {
    it(`read with ${title} returns revisions [${expected.join(',')}]`, async () => {
      const log = await ctx.log();
      await log.append('s', events(4));
      await log.append('other', events(3));
      await log.append('s', events(6, 'Tick', 5));
      const got = await collect(log.read('s', options));
      expect(got.map((e) => e.revision)).toEqual(expected);
      expect(got.map((e) => e.data)).toEqual(expected.map((n) => ({ n })));
    });
  }

  it('read of a stream that does not exist returns nothing', async () => {
    const log = await ctx.log();
    await log.append('s', events(1));
    expect(await collect(log.read('missing'))).toEqual([]);
    expect(await collect(log.read('missing', { direction: 'backward' }))).toEqual([]);
  });

  it('read and readAll with invalid options throw ValidationError', async () => {
    const log = await ctx.log();
    await log.append('s', events(1));
    for (const bad of [{ limit: -1 }, { fromRevision: -1 }, { toRevision: 1.5 }, { direction: 'sideways' }] as ReadOptions[]) {
      await expect(collect(log.read('s', bad))).rejects.toBeInstanceOf(ValidationError);
    }
    for (const bad of [{ limit: -1 }, { fromPosition: -1 }, { fromPosition: 0.5 }]) {
      await expect(collect(log.readAll(bad))).rejects.toBeInstanceOf(ValidationError);
    }
  });

  it('readAll with fromPosition returns the events after that position (exclusive), with limit and types', async () => {
    const log = await ctx.log();
    await log.append('a', events(3, 'A'));
    await log.append('b', events(2, 'B'));
    await log.append('a', events(3, 'C', 4));
    const all = await collect(log.readAll());
    expect(all.map((e) => `${e.stream}${e.revision}`)).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'a4', 'a5', 'a6']);
    const after = (k: number) => all[k - 1]!.position;
    expect((await collect(log.readAll({ fromPosition: after(3) }))).map((e) => e.id)).toEqual(all.slice(3).map((e) => e.id));
    expect((await collect(log.readAll({ fromPosition: after(3), limit: 2 }))).map((e) => e.id)).toEqual(all.slice(3, 5).map((e) => e.id));
    expect((await collect(log.readAll({ limit: 0 })))).toEqual([]);
    expect(await collect(log.readAll({ fromPosition: after(8) }))).toEqual([]);
    expect((await collect(log.readAll({ types: ['B', 'C'] }))).map((e) => e.type)).toEqual(['B', 'B', 'C', 'C', 'C']);
    expect((await collect(log.readAll({ types: ['A', 'C'], fromPosition: after(2), limit: 2 }))).map((e) => e.id)).toEqual([all[2]!.id, all[5]!.id]);
    expect(await collect(log.readAll({ types: [] }))).toEqual([]);
    expect(await collect(log.readAll({ types: ['Nope'] }))).toEqual([]);
  });

  it('readAll pages by fromPosition = last position seen visit every event exactly once', async () => {
    const log = await ctx.log();
    for (let i = 0; i < 10; i++) await log.append(`s${i % 4}`, events(1 + (i % 3)));
    const all = await collect(log.readAll());
    const paged = [];
    let from = 0;
    for (;;) {
      const page = await collect(log.readAll({ fromPosition: from, limit: 3 }));
      if (page.length === 0) break;
      paged.push(...page);
      from = page[page.length - 1]!.position;
    }
    expect(paged.map((e) => e.id)).toEqual(all.map((e) => e.id));
  });

  it(`a reader paging readAll while ${ctx.options.concurrentAppenders} appenders write never skips or repeats an event`, async () => {
    const log = await ctx.log();
    let writing = true;
    const writers = appendConcurrently(log, ctx.options.concurrentAppenders, 12).finally(() => (writing = false));
    const paged: string[] = [];
    let from = 0;
    const page = async (): Promise<number> => {
      const got = await collect(log.readAll({ fromPosition: from, limit: 5 }));
      for (const e of got) paged.push(e.id);
      if (got.length > 0) from = got[got.length - 1]!.position;
      return got.length;
    };
    while (writing) if ((await page()) === 0) await new Promise((r) => setTimeout(r, 1));
    await writers;
    while ((await page()) > 0);
    expect(paged).toEqual((await collect(log.readAll())).map((e) => e.id));
  });

  it(`append then read round-trips ${ctx.options.jsonOnly ? 'JSON values' : 'Date, Map, Set, BigInt, Uint8Array, undefined, NaN and -0'} exactly, deeply frozen`, async () => {
    const log = await ctx.log();
    let rev = 0;
    await fc.assert(
      fc.asyncProperty(ctx.options.jsonOnly ? fc.jsonValue({ maxDepth: 3 }) : arbitraryExtendedState(), async (data) => {
        const r = await log.append('s', [{ type: 'T', data, metadata: { rev } }]);
        rev = r.revision;
        const [e] = await collect(log.read('s', { fromRevision: rev }));
        expect(e!.data).toStrictEqual(data);
        expect(isDeepFrozen(e!.data)).toBe(true);
        expect(isDeepFrozen(e!.metadata)).toBe(true);
      }),
      { numRuns: ctx.options.runs },
    );
  });

  it('stored events are independent of the appended objects and of what readers do with their bytes', async () => {
    const log = await ctx.log();
    const data = { list: [1, { deep: 'x' }], bytes: new Uint8Array([1, 2]) };
    await log.append('s', [{ type: 'T', data }]);
    data.list.push(3);
    (data.list[1] as { deep: string }).deep = 'changed';
    data.bytes[0] = 9;
    const [first] = await collect(log.read('s'));
    expect(first!.data).toStrictEqual({ list: [1, { deep: 'x' }], bytes: new Uint8Array([1, 2]) });
    (first!.data as { bytes: Uint8Array }).bytes[1] = 7;
    const [again] = await collect(log.readAll());
    expect((again!.data as { bytes: Uint8Array }).bytes).toEqual(new Uint8Array([1, 2]));
  });
}
