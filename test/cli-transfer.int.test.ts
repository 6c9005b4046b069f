/**
 * Export then import, SQLite → PostgreSQL → memory → file → SQLite, keeps everything: ids, revisions,
 * position order, times, types, data (with Dates, BigInts, Maps, bytes) and metadata. A fast-check
 * property over random logs (the API, exportLog/importLog), and the same chain once through the
 * real binary's pipes (`dgent export A | dgent import B`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportLog, importLog, openLog, readJsonl, eventToLine, type EventLog, type RecordedEvent } from '../src/index.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';
import { dgent } from './cli-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-transfer-'));
const schemas: string[] = [];
let up = false;
beforeAll(async () => {
  up = await requireService('PostgreSQL', postgresUrl());
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await dropSchemas(schemas);
});

const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.date({ noInvalidDate: true, min: new Date(0), max: new Date(4102444800000) }),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
  fc.uint8Array({ maxLength: 8 }),
  fc.array(fc.tuple(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }).map((e) => new Map(e)),
);

/** A random log as the JSONL an export would print: streams interleaved, revisions gapless, any times. */
const randomLog = fc
  .array(
    fc.record({
      stream: fc.constantFrom('a', 'chat-1', 'kv:default/k', 'ünï/çødé', 's'.repeat(40)),
      type: fc.constantFrom('Added', 'Removed', '$state', 'x.y'),
      data: value,
      metadata: fc.dictionary(fc.string({ minLength: 1, maxLength: 6 }), value, { maxKeys: 3 }),
      time: fc.integer({ min: 0, max: 4102444800000 }),
    }),
    { minLength: 1, maxLength: 40 },
  )
  .map((events) => {
    const revs = new Map<string, number>();
    return events.map((e, i): RecordedEvent => {
      const revision = (revs.get(e.stream) ?? 0) + 1;
      revs.set(e.stream, revision);
      return { id: `id-${i}-${Math.random().toString(36).slice(2)}`, stream: e.stream, revision, position: i + 1, type: e.type, data: e.data, metadata: e.metadata, time: new Date(e.time) };
    });
  });

/** A URL (opened and closed here) or a log the caller keeps open (a memory log lives only in its instance). */
type Target = string | EventLog;

async function using<T>(target: Target, fn: (log: EventLog) => Promise<T>): Promise<T> {
  if (typeof target !== 'string') return fn(target);
  const log = await openLog(target);
  try {
    return await fn(log);
  } finally {
    await log.close();
  }
}

async function lines(target: Target): Promise<string[]> {
  return using(target, async (log) => {
    const out: string[] = [];
    for await (const l of exportLog(log)) out.push(l);
    return out;
  });
}

async function copy(from: string[], target: Target): Promise<void> {
  await using(target, async (log) => {
    const r = await importLog(log, readJsonl([from.join('\n')]), { batchSize: 7 });
    expect(r).toEqual({ read: from.length, written: from.length });
  });
}

describe('export → import across backends', () => {
  it('SQLite → PostgreSQL → memory → file → SQLite keeps every event exactly (property, 25 random logs)', async () => {
    if (!up) return;
    let run = 0;
    await fc.assert(
      fc.asyncProperty(randomLog, async (events) => {
        run++;
        const schema = uniqueSchema('dgt_xfer');
        schemas.push(schema);
        const original = events.map(eventToLine);
        const memory = await openLog('memory:');
        try {
          const chain: Target[] = [`sqlite:${join(dir, `a${run}.db`)}`, `${postgresUrl()}?schema=${schema}`, memory, `file:${join(dir, `f${run}`)}`, `sqlite:${join(dir, `b${run}.db`)}`];
          let current = original;
          for (const target of chain) {
            await copy(current, target);
            current = await lines(target);
            expect(current).toEqual(original);
          }
        } finally {
          await memory.close();
        }
      }),
      { numRuns: 25 },
    );
  }, 300_000);

  it('dgent export A | dgent import B, SQLite → PostgreSQL → file → SQLite, through the real binary', async () => {
    if (!up) return;
    const schema = uniqueSchema('dgt_xcli');
    schemas.push(schema);
    const source = `sqlite:${join(dir, 'cli-a.db')}`;
    const log = await openLog(source);
    for (let i = 0; i < 50; i++) await log.append(`s${i % 3}`, [{ type: 'T', data: { i, at: new Date(i), big: BigInt(i) ** 20n }, metadata: { actor: `u${i % 2}` } }]);
    await log.close();
    const chain = [source, `${postgresUrl()}?schema=${schema}`, `file:${join(dir, 'cli-f')}`, `sqlite:${join(dir, 'cli-b.db')}`];
    const first = await dgent(['export', source]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout.trim().split('\n')).toHaveLength(50);
    for (let i = 1; i < chain.length; i++) {
      const out = await dgent(['export', chain[i - 1]!]);
      const inn = await dgent(['import', chain[i]!, '--json'], { input: out.stdout });
      expect(inn.code, inn.stderr).toBe(0);
      expect(JSON.parse(inn.stdout)).toEqual({ read: 50, written: 50 });
      expect((await dgent(['export', chain[i]!])).stdout).toBe(first.stdout);
    }
  }, 300_000);
});
