/**
 * The option types accept an explicit `undefined` (for exactOptionalPropertyTypes users writing
 * `url: process.env.X`); these tests hold the code to what that promises: an option given as
 * undefined behaves exactly as an option left out.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CachedAgent, EntropyConstrainedAgent, DEFAULT_MAX_STATE_BYTES, FileEventLog, MemoryEventLog, PersistentAgent, SqliteEventLog, StateNotFoundError, StreamAgent, VolatileAgent, lens } from '../src/index.js';
import { VectorAgent } from '../src/vector.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dgent-undef-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('an option given as undefined behaves as one left out', () => {
  it('VolatileAgent maxHistory: undefined keeps the default 100 states', async () => {
    const a = new VolatileAgent<number>({ initial: undefined, maxHistory: undefined, maxRetries: undefined });
    await expect(a.load()).rejects.toBeInstanceOf(StateNotFoundError);
    for (let i = 1; i <= 150; i++) await a.save(i);
    expect((await a.history()).length).toBe(100);
  });

  it('PersistentAgent with every optional option undefined saves, loads and travels in time', async () => {
    const a = new PersistentAgent<{ n: number }>({ path: join(dir, 'a.json'), schema: undefined, migrations: undefined, retention: undefined, lock: undefined, initial: undefined, maxRetries: undefined });
    await a.save({ n: 1 });
    await a.update((d) => void (d.n += 1));
    expect(await a.load()).toEqual({ n: 2 });
    expect(await a.loadAt({ version: 1 })).toEqual({ n: 1 });
    await a.close();
  });

  it('CachedAgent strategy: undefined is write-through (the backend has every save)', async () => {
    const backend = new VolatileAgent<number>();
    const c = new CachedAgent({ cache: new VolatileAgent(), backend, strategy: undefined, flushIntervalMs: undefined, coalesce: undefined, verify: undefined, onFlushError: undefined, onCacheError: undefined });
    expect(c.strategy).toBe('write-through');
    await c.save(7);
    expect(await backend.load()).toBe(7);
    expect(await c.version()).toBe(1);
  });

  it('EntropyConstrainedAgent maxSizeBytes and onExceed undefined: the default limit, rejecting', async () => {
    const e = new EntropyConstrainedAgent({ backend: new VolatileAgent<string>(), budget: 0.5, maxSizeBytes: undefined, onExceed: undefined, onWarn: undefined });
    expect(e.limit).toBe(Math.floor(DEFAULT_MAX_STATE_BYTES / 2));
    await expect(e.save('x'.repeat(e.limit + 1))).rejects.toMatchObject({ code: 'STATE_TOO_LARGE' });
  });

  it('lens empty: undefined means no empty whole: a save over nothing stored is StateNotFoundError', async () => {
    const part = lens.prop(new VolatileAgent<{ a: number }>(), 'a', { empty: undefined, closeWhole: undefined });
    await expect(part.save(1)).rejects.toBeInstanceOf(StateNotFoundError);
  });

  it('the logs take undefined for every optional option', async () => {
    const logs = [
      new MemoryEventLog({ pageSize: undefined }),
      new FileEventLog({ dir: join(dir, 'log'), segmentSize: undefined, lock: undefined, lockTimeoutMs: undefined, readOnly: undefined, cacheBytes: undefined, maxAppendBytes: undefined, onRecovery: undefined, pageSize: undefined }),
      new SqliteEventLog({ path: join(dir, 'log.db'), synchronous: undefined, busyTimeoutMs: undefined, pollIntervalMs: undefined, pageSize: undefined }),
    ];
    for (const log of logs) {
      await log.append('s', [{ type: 't', data: 1, metadata: undefined, id: undefined }], { expectedRevision: undefined });
      const read = [];
      for await (const e of log.read('s', { fromRevision: undefined, toRevision: undefined, direction: undefined, limit: undefined })) read.push(e.data);
      expect(read).toEqual([1]);
      const agent = new StreamAgent({ log, stream: 'agent', snapshotEvery: undefined, snapshots: undefined, foldVersion: undefined, onError: undefined, maxRetries: undefined });
      await agent.save({ n: 1 });
      expect(await agent.load()).toEqual({ n: 1 });
      await agent.close();
      await log.close();
    }
  });

  it('VectorAgent.open with index and metric undefined takes them from the file', async () => {
    const path = join(dir, 'v.idx');
    const a = new VectorAgent({ dimension: 2, metric: 'ip', index: 'Flat', path, engine: 'js' });
    await a.add([{ id: 'a', vector: [1, 0] }]);
    await a.save();
    await a.close();
    const b = await VectorAgent.open(path, { engine: 'js', index: undefined, metric: undefined, dimension: undefined });
    expect([b.index, b.metric, b.dimension]).toEqual(['Flat', 'ip', 2]);
    await b.close();
  });
});
