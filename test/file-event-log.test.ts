import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, unlinkSync, appendFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConcurrencyError, CorruptionError, ValidationError } from '../src/core/errors.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import type { FileEventLogOptions } from '../src/streams/file/file-event-log.js';
import { encodeCommit, decodeHead } from '../src/streams/file/record.js';
import { encodeFrame, parseFrame, FRAME_HEADER, segmentName } from '../src/streams/file/segment.js';

const dirs: string[] = [];
const logs: FileEventLog[] = [];
afterEach(async () => {
  for (const l of logs.splice(0)) await l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'dgent-file-log-unit-'));
  dirs.push(d);
  return d;
}

function openLog(options: FileEventLogOptions): FileEventLog {
  const log = new FileEventLog(options);
  logs.push(log);
  return log;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const view = (e: RecordedEvent) => ({ id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, data: e.data, metadata: e.metadata, time: e.time.getTime() });

/** Offsets of the frames in a segment's bytes (walking the length fields). */
function frameStarts(bytes: Buffer): number[] {
  const out: number[] = [];
  for (let at = 0; at + FRAME_HEADER <= bytes.length; at += FRAME_HEADER + bytes.readUInt32LE(at + 4)) out.push(at);
  return out;
}

function segments(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('segment-')).sort();
}

/** Fill a log with events over several streams; returns what readAll gives. */
async function fill(log: FileEventLog, n: number): Promise<RecordedEvent[]> {
  for (let i = 0; i < n; i++) await log.append(`s${i % 3}`, [{ type: 'T', data: { i, pad: 'x'.repeat(40) } }]);
  return collect(log.readAll());
}

describe('framing', () => {
  it('encodeFrame then parseFrame returns the payload for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const r = parseFrame(encodeFrame(bytes), 0);
        expect(r.kind).toBe('frame');
        if (r.kind === 'frame') expect(new Uint8Array(r.payload)).toEqual(bytes);
      }),
    );
  });

  it('parseFrame of a frame with any one byte changed is not a frame', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bytes, at, x) => {
        const f = encodeFrame(bytes);
        const i = at % f.length;
        f[i] = f[i]! ^ x;
        expect(parseFrame(f, 0).kind).not.toBe('frame');
      }),
    );
  });

  it('parseFrame of a frame cut short reports short', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat(), (bytes, cut) => {
        const f = encodeFrame(bytes);
        expect(parseFrame(f.subarray(0, cut % f.length), 0).kind).toBe('short');
      }),
    );
  });

  it('decodeHead of a checksummed payload that is not a commit throws CorruptionError', () => {
    expect(() => decodeHead(Buffer.from('\u0002\u0000\u0000\u0000{}[]'), 'x')).toThrow(CorruptionError);
    const ok = encodeCommit({ b: 0, p: 1, t: 0, e: [['s', 1, 'id', 'T']] }, '[[1,{}]]');
    expect(decodeHead(ok, 'x').e).toEqual([['s', 1, 'id', 'T']]);
  });
});

describe('FileEventLog', () => {
  it('segmentSize rolls to new segment files and reads span them', async () => {
    const dir = tempDir();
    const log = openLog({ dir, segmentSize: 1024 });
    const all = await fill(log, 60);
    expect(segments(dir).length).toBeGreaterThan(3);
    expect(all.map((e) => e.position)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect((await collect(log.read('s1', { direction: 'backward', limit: 3 }))).map((e) => e.data)).toEqual([58, 55, 52].map((i) => ({ i, pad: 'x'.repeat(40) })));
  });

  it('deleting the index file and reopening gives the same reads (index rebuilt from segments)', async () => {
    const dir = tempDir();
    const a = openLog({ dir, segmentSize: 2048 });
    const before = (await fill(a, 40)).map(view);
    await a.close();
    unlinkSync(join(dir, 'stream-index.json'));
    const b = openLog({ dir });
    expect((await collect(b.readAll())).map(view)).toEqual(before);
    expect(b.recovery?.rebuiltIndex).toBe(true);
    for (const s of ['s0', 's1', 's2']) expect((await collect(b.read(s))).map(view)).toEqual(before.filter((e) => e.stream === s));
  });

  it('a clean reopen uses the index file; a stale one (older than the segments) is caught up by scanning', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    await fill(a, 10);
    await a.close();
    const b = openLog({ dir });
    await b.open();
    expect(b.recovery?.rebuiltIndex).toBe(false);
    copyFileSync(join(dir, 'stream-index.json'), join(dir, 'old-index'));
    await b.append('s0', [{ type: 'U', data: 1 }], { expectedRevision: 4 });
    const expected = (await collect(b.readAll())).map(view);
    await b.close();
    copyFileSync(join(dir, 'old-index'), join(dir, 'stream-index.json'));
    const c = openLog({ dir });
    expect((await collect(c.readAll())).map(view)).toEqual(expected);
    expect(await c.revision('s0')).toBe(5);
  });

  it('an index file with a bad checksum is ignored and rebuilt', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    const before = (await fill(a, 5)).map(view);
    await a.close();
    const p = join(dir, 'stream-index.json');
    writeFileSync(p, readFileSync(p, 'utf8').replace('"s1"', '"s9"'));
    const b = openLog({ dir });
    expect((await collect(b.readAll())).map(view)).toEqual(before);
    expect(b.recovery?.rebuiltIndex).toBe(true);
    expect(await b.revision('s9')).toBe(0);
  });

  it('damaged last bytes of the last segment: CorruptionError while the index file covers them (acknowledged), truncated and reported once it does not', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    const before = (await fill(a, 6)).map(view);
    await a.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const size = statSync(seg).size;
    const bytes = readFileSync(seg);
    bytes[size - 3] = bytes[size - 3]! ^ 0xff;
    writeFileSync(seg, bytes);
    // the index file says the last frame was written and acknowledged: cutting it would lose an append
    const refused = openLog({ dir });
    await expect(collect(refused.readAll())).rejects.toBeInstanceOf(CorruptionError);
    await refused.close().catch(() => undefined);
    expect(statSync(seg).size).toBe(size);
    // without the index file nothing says it was acknowledged: a torn tail
    unlinkSync(join(dir, 'stream-index.json'));
    const reports: unknown[] = [];
    const b = openLog({ dir, onRecovery: (r) => reports.push(r) });
    expect((await collect(b.readAll())).map(view)).toEqual(before.slice(0, 5));
    expect(b.recovery).toMatchObject({ truncatedBytes: size - statSync(seg).size, droppedRecords: 1, file: seg });
    expect(b.recovery!.truncatedBytes).toBeGreaterThan(0);
    expect(reports).toEqual([b.recovery]);
    const r = await b.append('s2', [{ type: 'T', data: 'again' }], { expectedRevision: 1 });
    expect(r).toEqual({ revision: 2, position: 6 });
  });

  it('a half-written frame at the end (torn write) is truncated; the appends before it stay', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    const before = (await fill(a, 4)).map(view);
    await a.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const frame = encodeFrame(encodeCommit({ b: statSync(seg).size, p: 5, t: 0, e: [['s', 1, 'x', 'T']] }, '[[1,{}]]'));
    appendFileSync(seg, frame.subarray(0, frame.length - 4));
    const b = openLog({ dir });
    expect((await collect(b.readAll())).map(view)).toEqual(before);
    expect(b.recovery).toMatchObject({ truncatedBytes: frame.length - 4, droppedRecords: 1 });
  });

  it('a damaged frame followed only by frames of its own write batch is a torn tail: cut, reported, not CorruptionError', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    const before = (await fill(a, 3)).map(view);
    await a.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const b0 = statSync(seg).size;
    const f1 = encodeFrame(encodeCommit({ b: b0, p: 4, t: 0, e: [['s0', 2, 'x1', 'T']] }, '[[1,{}]]'));
    const f2 = encodeFrame(encodeCommit({ b: b0, p: 5, t: 0, e: [['s0', 3, 'x2', 'T']] }, '[[2,{}]]'));
    f1[f1.length - 2] = f1[f1.length - 2]! ^ 0xff; // the batch reached the disk out of order: first frame garbled, second whole
    appendFileSync(seg, Buffer.concat([f1, f2]));
    const readOnly = openLog({ dir, readOnly: true });
    expect((await collect(readOnly.readAll())).map(view)).toEqual(before);
    expect(statSync(seg).size).toBe(b0 + f1.length + f2.length); // a read-only open cuts nothing
    const b = openLog({ dir });
    expect((await collect(b.readAll())).map(view)).toEqual(before);
    expect(b.recovery).toMatchObject({ truncatedBytes: f1.length + f2.length, droppedRecords: 2, offset: b0 });
    expect(statSync(seg).size).toBe(b0);
  });

  it('a damaged record followed by acknowledged ones throws CorruptionError on open and leaves the file as it was', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    await fill(a, 6);
    await a.close();
    unlinkSync(join(dir, 'stream-index.json')); // force a scan of every frame
    const seg = join(dir, segments(dir).at(-1)!);
    const bytes = readFileSync(seg);
    bytes[FRAME_HEADER + 20] = bytes[FRAME_HEADER + 20]! ^ 0x55; // inside the first frame's payload
    writeFileSync(seg, bytes);
    const b = openLog({ dir });
    const err = await b.open().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).message).toContain(`${seg} at offset 0`);
    expect(readFileSync(seg).equals(bytes)).toBe(true);
  });

  it('a damaged frame inside the cached index range is caught when read: CorruptionError with file and offset', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    await fill(a, 6);
    await a.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const bytes = readFileSync(seg);
    bytes[FRAME_HEADER + 20] = bytes[FRAME_HEADER + 20]! ^ 0x55;
    writeFileSync(seg, bytes);
    const b = openLog({ dir });
    await expect(collect(b.readAll())).rejects.toThrow(CorruptionError);
    await expect(collect(b.read('s0'))).rejects.toThrow(`${seg} at offset 0`);
  });

  it('a damaged frame in the middle of the last segment, under a valid index file: CorruptionError on open, and appends never write', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    await fill(a, 6); // six write batches
    await a.close(); // the index file now covers every frame
    const seg = join(dir, segments(dir).at(-1)!);
    const bytes = readFileSync(seg);
    const starts = frameStarts(bytes);
    bytes[starts[2]! + FRAME_HEADER + 5] = bytes[starts[2]! + FRAME_HEADER + 5]! ^ 0x55;
    writeFileSync(seg, bytes);
    const b = openLog({ dir });
    const err = await b.open().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CorruptionError);
    expect((err as CorruptionError).message).toContain(`${seg} at offset ${starts[2]}`);
    await expect(b.append('s0', [{ type: 'T', data: 1 }])).rejects.toThrow(CorruptionError);
    expect(readFileSync(seg).equals(bytes)).toBe(true);
    // without the index file the scan says the same: the damage is followed by later batches
    unlinkSync(join(dir, 'stream-index.json'));
    await expect(openLog({ dir }).open()).rejects.toThrow(CorruptionError);
  });

  it('a damaged frame of the last write batch under a valid index file: CorruptionError on open, so no append can bury it', async () => {
    const dir = tempDir();
    const a = openLog({ dir });
    await a.append('s0', [{ type: 'T', data: 0 }]);
    // three appends in one tick: one write batch of three frames
    await Promise.all([1, 2, 3].map((i) => a.append(`s${i}`, [{ type: 'T', data: i }])));
    await a.close();
    const seg = join(dir, segments(dir).at(-1)!);
    const bytes = readFileSync(seg);
    const starts = frameStarts(bytes);
    expect(starts).toHaveLength(4);
    const heads = starts.map((o) => decodeHead((parseFrame(bytes, o) as { payload: Buffer }).payload, 'test'));
    expect(heads.slice(1).map((h) => h.b)).toEqual([starts[1], starts[1], starts[1]]); // one batch
    bytes[starts[2]! + FRAME_HEADER + 5] = bytes[starts[2]! + FRAME_HEADER + 5]! ^ 0x55;
    writeFileSync(seg, bytes);
    // before: the open succeeded, an append followed, and once the index file was gone the log
    // could not be opened at all ("refusing to truncate")
    const b = openLog({ dir });
    await expect(b.open()).rejects.toThrow(`${seg} at offset ${starts[2]}`);
    await expect(b.append('s9', [{ type: 'T', data: 9 }])).rejects.toThrow(CorruptionError);
    expect(readFileSync(seg).equals(bytes)).toBe(true);
    unlinkSync(join(dir, 'stream-index.json'));
    const c = openLog({ dir });
    await c.open(); // a scan alone reads it as the torn tail of the last batch: it still opens
    expect(c.recovery?.offset).toBe(starts[2]);
  });

  it('a damaged frame in a segment that is not the last throws CorruptionError', async () => {
    const dir = tempDir();
    const a = openLog({ dir, segmentSize: 512 });
    await fill(a, 20);
    await a.close();
    unlinkSync(join(dir, 'stream-index.json'));
    const first = join(dir, segmentName(1));
    const bytes = readFileSync(first);
    writeFileSync(first, bytes.subarray(0, bytes.length - 2)); // a sealed segment cut short
    await expect(openLog({ dir }).open()).rejects.toThrow(CorruptionError);
  });

  it('concurrent appends are group-committed, and a conflicting one in the batch fails alone', async () => {
    const dir = tempDir();
    const log = openLog({ dir });
    await log.append('warm', [{ type: 'T', data: 0 }]);
    const results = await Promise.allSettled([
      ...Array.from({ length: 8 }, (_, i) => log.append('same', [{ type: 'T', data: i }], { expectedRevision: 'no_stream' })),
      ...Array.from({ length: 8 }, (_, i) => log.append(`other-${i}`, [{ type: 'T', data: i }])),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9);
    for (const r of results.slice(1, 8)) expect(r.status === 'rejected' && r.reason).toBeInstanceOf(ConcurrencyError);
    expect(await log.revision('same')).toBe(1);
    // frames of one write batch record the same batch start: fewer batches than appends
    const seg = readFileSync(join(dir, segments(dir)[0]!));
    const starts = new Set<number>();
    for (let at = 0; at < seg.length; ) {
      const f = parseFrame(seg, at);
      if (f.kind !== 'frame') throw new Error('unexpected');
      starts.add(decodeHead(f.payload, 'x').b);
      at += f.size;
    }
    expect(starts.size).toBeLessThan(10);
  });

  it('appendMany commits several streams in one frame and returns each result', async () => {
    const dir = tempDir();
    const log = openLog({ dir });
    const r = await log.appendMany([
      { stream: 'a', events: [{ type: 'T', data: 1 }, { type: 'T', data: 2 }], expectedRevision: 'no_stream' },
      { stream: 'b', events: [{ type: 'T', data: 3 }] },
    ]);
    expect(r).toEqual([{ revision: 2, position: 2 }, { revision: 1, position: 3 }]);
    await expect(log.appendMany([{ stream: 'c', events: [{ type: 'T', data: 1 }] }, { stream: 'a', events: [{ type: 'T', data: 1 }], expectedRevision: 0 }])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    expect(await log.revision('c')).toBe(0);
  });

  it('stream names with path characters never become file names', async () => {
    const dir = tempDir();
    const log = openLog({ dir });
    const names = ['../../etc/passwd', '/abs', 'a\\b', 'con', '😀 ünï', '.', 'x'.repeat(512)];
    for (const s of names) await log.append(s, [{ type: 'T', data: s }]);
    for (const s of names) expect((await collect(log.read(s))).map((e) => e.data)).toEqual([s]);
    expect(readdirSync(dir).sort()).toEqual([segmentName(1), 'writer.lock']);
  });

  it('readOnly opens a snapshot without the writer lock; its appends throw ValidationError', async () => {
    const dir = tempDir();
    const w = openLog({ dir });
    await fill(w, 5);
    const r = openLog({ dir, readOnly: true });
    expect((await collect(r.readAll())).length).toBe(5);
    await expect(r.append('s', [{ type: 'T', data: 1 }])).rejects.toBeInstanceOf(ValidationError);
    await w.append('s0', [{ type: 'T', data: 1 }]);
  });

  it('events holding Uint8Array come back as fresh copies on every read', async () => {
    const dir = tempDir();
    const log = openLog({ dir });
    await log.append('b', [{ type: 'T', data: { bytes: new Uint8Array([1, 2]) } }]);
    const [first] = await collect(log.read('b'));
    (first!.data as { bytes: Uint8Array }).bytes[0] = 9;
    const [again] = await collect(log.read('b'));
    expect((again!.data as { bytes: Uint8Array }).bytes).toEqual(new Uint8Array([1, 2]));
  });
});
