import { describe, it, expect, afterAll } from 'vitest';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { InvalidKeyError, LockedError, StateNotFoundError, ValidationError } from '../src/core/errors.js';
import fc from 'fast-check';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { encodeRecord, encodeRecordLine, verifyRecord } from '../src/agents/persistent/record.js';
import { dataAgentContract } from '../src/testing/index.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-pa-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The pid of a process that has already exited. */
function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
}

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

dataAgentContract(
  'PersistentAgent',
  () => {
    const dir = mkdtempSync(join(root, 'c'));
    const path = join(dir, 'agent.json');
    return {
      open: () => new PersistentAgent({ path }),
      openTyped: (typing) => new PersistentAgent({ path, ...typing }),
      // one byte of the state changes under an intact checksum, as a bad sector or a stray writer would
      corrupt: () => {
        const doc = readFileSync(path);
        const at = doc.indexOf('"state":') + 10;
        doc[at] = doc[at]! ^ 0x01;
        writeFileSync(path, doc);
      },
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  },
  { reopen: true, requires: ['update', 'versioned', 'subscribe', 'close'] },
);

function fresh(): string {
  return join(mkdtempSync(join(root, 't')), 'agent.json');
}

const files = (path: string) => readdirSync(dirname(path)).sort();

describe('PersistentAgent', () => {
  it('save writes one JSON document with version, time, schema version and a checksum', async () => {
    const path = fresh();
    const a = new PersistentAgent<{ n: number }>({ path });
    await a.save({ n: 1 });
    await a.save({ n: 2 });
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc).toMatchObject({ version: 2, schemaVersion: 0, state: { n: 2 } });
    expect(doc.crc32c).toMatch(/^[0-9a-f]{8}$/);
    expect(readFileSync(`${path}.history.jsonl`, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(files(path)).toEqual(['agent.json', 'agent.json.history.jsonl']);
    await a.close();
  });

  it('load returns the same frozen object while the document is unchanged, and sees another instance\'s save', async () => {
    const path = fresh();
    const a = new PersistentAgent<{ n: number }>({ path });
    const b = new PersistentAgent<{ n: number }>({ path });
    await a.save({ n: 1 });
    const first = await b.load();
    expect(await b.load()).toBe(first);
    await a.save({ n: 2 });
    expect(await b.load()).toEqual({ n: 2 });
    expect(await b.version()).toBe(2);
  });

  it('stored bytes cannot be mutated through a loaded state', async () => {
    const a = new PersistentAgent<{ b: Uint8Array }>({ path: fresh() });
    await a.save({ b: new Uint8Array([1, 2]) });
    (await a.load()).b[0] = 99;
    expect((await a.load()).b).toEqual(new Uint8Array([1, 2]));
  });

  it('constructor rejects a path with a NUL byte or naming a directory with InvalidKeyError, and a missing or mistyped one with ValidationError', () => {
    expect(() => new PersistentAgent({ path: join(root, 'a\0b.json') })).toThrow(InvalidKeyError);
    expect(() => new PersistentAgent({ path: `${root}/` })).toThrow(InvalidKeyError);
    expect(() => new PersistentAgent({ path: '' })).toThrow(ValidationError);
    expect(() => new PersistentAgent({ path: 42 as unknown as string })).toThrow(/a file path must be a non-empty string, got 42$/);
    expect(() => new PersistentAgent({ path: undefined as unknown as string })).toThrow(ValidationError);
  });

  it('companion files are derived inside the document directory, even for a "../" path', () => {
    const a = new PersistentAgent({ path: join(root, 'x', '..', 'y.json') });
    for (const f of [a.files.doc, a.files.history, a.files.lock]) expect(dirname(f)).toBe(root);
  });

  it('retention bounds history and loadAt; compaction keeps the newest entries and versions keep counting', async () => {
    const path = fresh();
    const a = new PersistentAgent<number>({ path, retention: 3 });
    for (let i = 1; i <= 150; i++) await a.save(i);
    expect(await a.history()).toEqual([150, 149, 148]);
    expect(await a.version()).toBe(150);
    expect(await a.loadAt({ version: 148 })).toBe(148);
    await expect(a.loadAt({ version: 147 })).rejects.toBeInstanceOf(StateNotFoundError);
    // compaction is rare: the file holds fewer than retention + 64 lines, never just 3
    const lines = readFileSync(`${path}.history.jsonl`, 'utf8').trim().split('\n').length;
    expect(lines).toBeLessThan(3 + 64);
    expect(lines).toBeGreaterThan(3);
    const b = new PersistentAgent<number>({ path, retention: 3 });
    expect(await b.history()).toEqual([150, 149, 148]);
  });

  it('retention must be a positive integer or Infinity', () => {
    expect(() => new PersistentAgent({ path: fresh(), retention: 0 })).toThrow(ValidationError);
    expect(() => new PersistentAgent({ path: fresh(), retention: 1.5 })).toThrow(ValidationError);
    expect(() => new PersistentAgent({ path: fresh(), retention: Infinity })).not.toThrow();
  });

  it('lock: { wait: false } save while another process holds the lock throws LockedError and keeps the state', async () => {
    const path = fresh();
    const a = new PersistentAgent<number>({ path, lock: { wait: false } });
    await a.save(1);
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: process.ppid, nonce: 'other', host: hostname(), boot: '', time: 0 }));
    await expect(a.save(2)).rejects.toBeInstanceOf(LockedError);
    rmSync(`${path}.lock`);
    expect(await a.load()).toBe(1);
  });

  it('a save after a writer died mid-save clears its temp files and torn history tail', async () => {
    const path = fresh();
    const a = new PersistentAgent<number>({ path });
    await a.save(1);
    await a.close();
    // what a writer killed between its history append and its rename leaves behind
    writeFileSync(join(dirname(path), '.agent.json.deadbeef-1.tmp'), 'partial');
    appendFileSync(`${path}.history.jsonl`, '{"crc32c":"0000');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: deadPid(), nonce: 'dead', host: hostname(), boot: bootId(), time: 0 }));
    const b = new PersistentAgent<number>({ path });
    expect(await b.history()).toEqual([1]);
    await b.save(2);
    expect(files(path)).toEqual(['agent.json', 'agent.json.history.jsonl']);
    expect(await b.history()).toEqual([2, 1]);
    expect(readFileSync(`${path}.history.jsonl`, 'utf8').endsWith('\n')).toBe(true);
  });
});

describe('PersistentAgent schema and migrations', () => {
  const V2 = z.object({ name: z.string(), tags: z.array(z.string()) });

  it('save of a state failing the schema throws ValidationError and keeps the stored state', async () => {
    const a = new PersistentAgent<z.infer<typeof V2>>({ path: fresh(), schema: V2 });
    await a.save({ name: 'a', tags: [] });
    const err = await a.save({ name: 5, tags: [] } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues[0]?.path).toBe('name');
    expect(await a.load()).toEqual({ name: 'a', tags: [] });
    expect(await a.version()).toBe(1);
  });

  it('load applies numbered migrations to old records and validates the result', async () => {
    const path = fresh();
    const v0 = new PersistentAgent<{ fullName: string }>({ path });
    await v0.save({ fullName: 'Ada' });
    await v0.save({ fullName: 'Ada Lovelace' });
    const migrations = {
      1: (s: { fullName: string }) => ({ name: s.fullName }),
      2: (s: { name: string }) => ({ ...s, tags: ['migrated'] }),
    };
    const v2 = new PersistentAgent<z.infer<typeof V2>>({ path, schema: V2, migrations });
    expect(await v2.load()).toEqual({ name: 'Ada Lovelace', tags: ['migrated'] });
    expect(await v2.loadAt({ version: 1 })).toEqual({ name: 'Ada', tags: ['migrated'] });
    await v2.update((s) => void s.tags.push('x'));
    expect(JSON.parse(readFileSync(path, 'utf8')).schemaVersion).toBe(2);
    expect(await v2.history()).toEqual([{ name: 'Ada Lovelace', tags: ['migrated', 'x'] }, { name: 'Ada Lovelace', tags: ['migrated'] }, { name: 'Ada', tags: ['migrated'] }]);
  });

  it('a migration producing an invalid state makes load throw ValidationError', async () => {
    const path = fresh();
    await new PersistentAgent<{ fullName: string }>({ path }).save({ fullName: 'Ada' });
    const bad = new PersistentAgent({ path, schema: V2, migrations: { 1: (s: { fullName: string }) => ({ name: s.fullName }) } });
    await expect(bad.load()).rejects.toBeInstanceOf(ValidationError);
  });

  it('a document from a newer schema version than the code knows throws ValidationError', async () => {
    const path = fresh();
    await new PersistentAgent<number>({ path, migrations: { 1: (s: unknown) => s, 2: (s: unknown) => s } }).save(1);
    await expect(new PersistentAgent<number>({ path, migrations: { 1: (s: unknown) => s } }).load()).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('PersistentAgent record encoding', () => {
  it('encodeRecordLine gives the bytes of encodeRecord plus a newline, checksum included, for any state text', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: -8.64e15, max: 8.64e15 }), fc.nat({ max: 999 }), fc.jsonValue(), (version, time, schemaVersion, value) => {
        const stateText = JSON.stringify(value) ?? 'null';
        const { text, crc } = encodeRecord(version, time, schemaVersion, stateText);
        const out = encodeRecordLine(version, time, schemaVersion, stateText);
        expect(out.crc).toBe(crc);
        expect(out.line.equals(Buffer.from(text + '\n', 'utf8'))).toBe(true);
        expect(verifyRecord(out.line.toString('utf8').slice(0, -1))).toMatchObject({ crc, version, time, schemaVersion });
      }),
      { numRuns: 300 },
    );
  });
});

describe('PersistentAgent path mistakes', () => {
  it('a path that is a directory: every call is a ValidationError naming it, and nothing is written', async () => {
    const dir = mkdtempSync(join(root, 'isdir-'));
    const path = join(dir, 'agent');
    mkdirSync(path);
    writeFileSync(join(path, 'keep.txt'), 'mine');
    const agent = new PersistentAgent<{ x: number }>({ path, initial: { x: 1 } });
    const calls: [string, () => Promise<unknown>][] = [
      ['load', () => agent.load()],
      ['save', () => agent.save({ x: 2 })],
      ['update', () => agent.update((s) => void (s.x = 3))],
      ['version', () => agent.version()],
      ['history', () => agent.history()],
      ['loadAt', () => agent.loadAt({ version: 1 })],
      ['repair', () => agent.repair()],
    ];
    for (const [name, call] of calls) {
      const e = await call().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e, name).toBeInstanceOf(ValidationError);
      expect((e as Error).message, name).toContain(path);
    }
    await agent.close();
    expect(readdirSync(dir)).toEqual(['agent']); // no history, lock or temp file left beside it
    expect(readdirSync(path)).toEqual(['keep.txt']);
  });
});
