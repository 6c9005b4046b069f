/**
 * The real crash test: a child process appends to a FileEventLog (single, multi-event and
 * multi-stream appends from concurrent loops, small segments so rolls happen too) and prints each
 * acknowledged event; the parent SIGKILLs it at random moments. After every kill the log must
 * open, hold every acknowledged event with its data, have gapless revisions and positions, and
 * read back completely. The next child continues on the same directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runUntilKilled } from './support/crash-child.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'log-writer.ts');
const KILLS = Number(process.env.DGENT_CRASH_KILLS ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'dgent-file-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileEventLog under SIGKILL', () => {
  it(`every acknowledged append survives ${KILLS} kills at random moments; the log always reopens whole`, async () => {
    const acked = new Map<string, string>(); // "stream\0revision" -> tag
    let truncations = 0;
    let ackedTotal = 0;
    for (let round = 0; round < KILLS; round++) {
      // mostly kill while appending; sometimes during start-up and recovery
      const afterReady = round % 5 !== 4;
      const lines = await runUntilKilled(FIXTURE, `file:${dir}`, round + 1, afterReady, afterReady ? Math.floor(Math.random() * 150) : 150 + Math.floor(Math.random() * 500));
      for (const [stream, revision, tag] of lines) acked.set(`${stream}\0${revision}`, tag);
      ackedTotal += lines.length;

      const log = new FileEventLog({ dir });
      try {
        await log.open();
        if ((log.recovery?.truncatedBytes ?? 0) > 0) truncations++;
        const all: RecordedEvent[] = [];
        for await (const e of log.readAll()) all.push(e);
        expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
        const byStream = new Map<string, RecordedEvent[]>();
        for (const e of all) {
          if (!byStream.has(e.stream)) byStream.set(e.stream, []);
          byStream.get(e.stream)!.push(e);
        }
        for (const [stream, events] of byStream) {
          expect(events.map((e) => e.revision), `revisions of ${stream}`).toEqual(events.map((_, i) => i + 1));
          expect(await log.revision(stream)).toBe(events.length);
          let n = 0;
          for await (const e of log.read(stream)) expect(e.id).toBe(events[n++]!.id);
          expect(n).toBe(events.length);
        }
        const stored = new Map(all.map((e) => [`${e.stream}\0${e.revision}`, (e.data as { tag: string }).tag]));
        for (const [key, tag] of acked) expect(stored.get(key), `acknowledged ${key.replace('\0', '@')}`).toBe(tag);
      } finally {
        await log.close();
      }
    }
    expect(ackedTotal).toBeGreaterThan(KILLS); // the children did get work acknowledged
    console.log(`crash test: ${KILLS} kills, ${ackedTotal} acknowledged events, ${truncations} torn tails truncated`);
  }, 300_000);
});
