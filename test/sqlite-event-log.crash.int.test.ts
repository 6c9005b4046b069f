/**
 * The real crash test: a child process appends to a SqliteEventLog (single, multi-event and
 * multi-stream appends from concurrent loops, so group commits are in flight) and prints each
 * acknowledged event; the parent SIGKILLs it at random moments. After every kill the log must
 * open, hold every acknowledged event with its data, and have gapless revisions and positions.
 * The next child continues on the same file. synchronous = NORMAL: the level that promises to
 * survive a process crash.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { runUntilKilled } from './support/crash-child.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'log-writer.ts');
const KILLS = Number(process.env.DGENT_CRASH_KILLS ?? 50);
const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-crash-'));
const path = join(dir, 'events.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteEventLog under SIGKILL', () => {
  it(`every acknowledged append survives ${KILLS} kills at random moments; the log always reopens whole`, async () => {
    const acked = new Map<string, string>(); // "stream\0revision" -> tag
    let ackedTotal = 0;
    for (let round = 0; round < KILLS; round++) {
      // mostly kill while appending; sometimes during start-up and WAL recovery
      const afterReady = round % 5 !== 4;
      const lines = await runUntilKilled(FIXTURE, `sqlite:${path}`, round + 1, afterReady, afterReady ? Math.floor(Math.random() * 120) : 100 + Math.floor(Math.random() * 600));
      for (const [stream, revision, tag] of lines) acked.set(`${stream}\0${revision}`, tag);
      ackedTotal += lines.length;

      const log = new SqliteEventLog({ path });
      try {
        const all: RecordedEvent[] = [];
        for await (const e of log.readAll()) all.push(e);
        expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
        const byStream = new Map<string, number[]>();
        for (const e of all) {
          if (!byStream.has(e.stream)) byStream.set(e.stream, []);
          byStream.get(e.stream)!.push(e.revision);
        }
        for (const [stream, revisions] of byStream) {
          expect(revisions, `revisions of ${stream}`).toEqual(revisions.map((_, i) => i + 1));
          expect(await log.revision(stream)).toBe(revisions.length);
        }
        const stored = new Map(all.map((e) => [`${e.stream}\0${e.revision}`, (e.data as { tag: string }).tag]));
        for (const [key, tag] of acked) expect(stored.get(key), `acknowledged ${key.replace('\0', '@')}`).toBe(tag);
      } finally {
        await log.close();
      }
      // SQLite's own recovery (WAL replay, a torn WAL frame dropped by its checksum) leaves no damage
      const db = new Database(path, { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true }), `integrity after kill ${round + 1}`).toBe('ok');
      } finally {
        db.close();
      }
    }
    expect(ackedTotal).toBeGreaterThan(KILLS); // the children did get work acknowledged
  }, 300_000);
});
