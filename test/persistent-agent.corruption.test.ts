import { describe, it, expect, afterAll } from 'vitest';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { encodeRecord } from '../src/agents/persistent/record.js';
import { CorruptionError, StateNotFoundError } from '../src/core/errors.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-pac-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** An agent with versions 1..n saved as { v: i }. */
async function seeded(n: number): Promise<{ path: string; hist: string }> {
  const path = join(mkdtempSync(join(root, 't')), 'agent.json');
  const a = new PersistentAgent<{ v: number }>({ path });
  for (let i = 1; i <= n; i++) await a.save({ v: i });
  await a.close();
  return { path, hist: `${path}.history.jsonl` };
}

const damages: [string, (path: string) => void][] = [
  ['truncated', (p) => truncateSync(p, Math.floor(readFileSync(p).length / 2))],
  ['garbage', (p) => writeFileSync(p, 'not json at all \u0000\u0001')],
  ['empty', (p) => writeFileSync(p, '')],
  ['a flipped byte (bad checksum)', (p) => writeFileSync(p, readFileSync(p, 'utf8').replace('"v":3', '"v":4'))],
];

describe('PersistentAgent over a corrupt document', () => {
  for (const [what, damage] of damages) {
    it(`load of a ${what} document throws CorruptionError naming the file; loadAt and history still read the history`, async () => {
      const { path } = await seeded(3);
      damage(path);
      const a = new PersistentAgent<{ v: number }>({ path });
      const err = await a.load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CorruptionError);
      expect((err as CorruptionError).location).toBe(path);
      expect((err as Error).message).toContain(path);
      await expect(a.version()).rejects.toBeInstanceOf(CorruptionError);
      expect(await a.loadAt({ version: 2 })).toEqual({ v: 2 });
      expect(await a.history()).toEqual([{ v: 3 }, { v: 2 }, { v: 1 }]);
    });

    it(`save over a ${what} document throws CorruptionError and writes nothing`, async () => {
      const { path, hist } = await seeded(3);
      damage(path);
      const before = readFileSync(path);
      const histBefore = readFileSync(hist);
      const a = new PersistentAgent<{ v: number }>({ path });
      await expect(a.save({ v: 99 })).rejects.toBeInstanceOf(CorruptionError);
      await expect(a.update(() => ({ v: 99 }))).rejects.toBeInstanceOf(CorruptionError);
      expect(readFileSync(path)).toEqual(before);
      expect(readFileSync(hist)).toEqual(histBefore);
    });

    it(`repair of a ${what} document restores the newest history entry and keeps the damaged file aside`, async () => {
      const { path } = await seeded(3);
      damage(path);
      const damaged = readFileSync(path);
      const a = new PersistentAgent<{ v: number }>({ path });
      const report = await a.repair();
      expect(report).toMatchObject({ version: 3, restored: true, droppedLines: 0 });
      expect(report.quarantined).toHaveLength(1);
      expect(readFileSync(report.quarantined[0]!)).toEqual(damaged);
      expect(await a.load()).toEqual({ v: 3 });
      await a.save({ v: 4 }, { expectedVersion: 3 });
      expect(await a.history()).toEqual([{ v: 4 }, { v: 3 }, { v: 2 }, { v: 1 }]);
    });
  }

  it('a deleted document with saved history throws CorruptionError, and repair restores it', async () => {
    const { path } = await seeded(2);
    rmSync(path);
    const a = new PersistentAgent<{ v: number }>({ path });
    await expect(a.load()).rejects.toBeInstanceOf(CorruptionError);
    expect(await a.repair()).toMatchObject({ version: 2, restored: true });
    expect(await a.load()).toEqual({ v: 2 });
  });

  it('repair with nothing valid to restore from throws CorruptionError and leaves the files in place', async () => {
    const { path, hist } = await seeded(1);
    writeFileSync(path, 'garbage');
    writeFileSync(hist, 'garbage\n');
    await expect(new PersistentAgent({ path }).repair()).rejects.toBeInstanceOf(CorruptionError);
    expect(readFileSync(path, 'utf8')).toBe('garbage');
  });

  it('random byte damage to the document never yields a wrong state: load gives the saved state or CorruptionError', async () => {
    const { path } = await seeded(2);
    const original = readFileSync(path);
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
        const bytes = Buffer.from(original);
        bytes[at]! ^= xor;
        writeFileSync(path, bytes);
        const r = await new PersistentAgent<{ v: number }>({ path }).load().then((s) => s, (e: unknown) => e);
        if (r instanceof CorruptionError) return;
        expect(r).toEqual({ v: 2 });
      }),
      { numRuns: 150 },
    );
  });
});

describe('PersistentAgent over a corrupt history', () => {
  function corruptLine(hist: string, lineNo: number): void {
    const lines = readFileSync(hist, 'utf8').split('\n');
    lines[lineNo - 1] = lines[lineNo - 1]!.replace(/"v":\d+/, '"v":77');
    writeFileSync(hist, lines.join('\n'));
  }

  it('a bad-checksum line: load still works, newer versions read, older ones throw CorruptionError naming the line', async () => {
    const { path, hist } = await seeded(5);
    corruptLine(hist, 2);
    const a = new PersistentAgent<{ v: number }>({ path });
    expect(await a.load()).toEqual({ v: 5 });
    expect(await a.loadAt({ version: 4 })).toEqual({ v: 4 });
    expect(await a.history(3)).toEqual([{ v: 5 }, { v: 4 }, { v: 3 }]);
    const err = await a.loadAt({ version: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as Error).message).toContain('history line 2');
    await expect(a.history()).rejects.toBeInstanceOf(CorruptionError);
  });

  it('repair sets a corrupt history line aside; the other versions stay readable', async () => {
    const { path, hist } = await seeded(5);
    corruptLine(hist, 2);
    const original = readFileSync(hist);
    const a = new PersistentAgent<{ v: number }>({ path });
    const report = await a.repair();
    expect(report).toMatchObject({ version: 5, restored: false, droppedLines: 1 });
    expect(readFileSync(report.quarantined[0]!)).toEqual(original);
    expect(await a.history()).toEqual([{ v: 5 }, { v: 4 }, { v: 3 }, { v: 1 }]);
    expect(await a.loadAt({ version: 1 })).toEqual({ v: 1 });
    await a.save({ v: 6 });
    expect(await a.version()).toBe(6);
  });

  it('a torn last history line is ignored by readers and truncated by the next save', async () => {
    const { path, hist } = await seeded(2);
    appendFileSync(hist, '{"crc32c":"12345678","version":3,"ti');
    const a = new PersistentAgent<{ v: number }>({ path });
    expect(await a.history()).toEqual([{ v: 2 }, { v: 1 }]);
    await a.save({ v: 3 });
    const lines = readFileSync(hist, 'utf8').split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[3]).toBe('');
    expect(await new PersistentAgent<{ v: number }>({ path }).history()).toEqual([{ v: 3 }, { v: 2 }, { v: 1 }]);
  });

  it('history entries of interrupted saves (above the document version) are skipped, and the retry wins', async () => {
    const { path, hist } = await seeded(2);
    // a save of version 3 that appended its history line but was killed before its rename
    const a = new PersistentAgent<{ v: number }>({ path });
    const line3 = encodeRecord(3, Date.now(), 0, '{"v":3}').text;
    appendFileSync(hist, line3 + '\n');
    expect(await a.history()).toEqual([{ v: 2 }, { v: 1 }]);
    await expect(a.loadAt({ version: 3 })).rejects.toBeInstanceOf(StateNotFoundError);
    await a.save({ v: 30 });
    expect(await a.loadAt({ version: 3 })).toEqual({ v: 30 });
    expect(await a.history()).toEqual([{ v: 30 }, { v: 2 }, { v: 1 }]);
    expect(readFileSync(hist, 'utf8').trim().split('\n')).toHaveLength(4);
  });
});
