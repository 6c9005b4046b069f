/**
 * Four real processes append to the same SQLite file and the same streams, each with the
 * expectedRevision it read and a retry on ConcurrencyError, while this process subscribes. They
 * start at the same moment on a file that does not exist yet, so schema creation races too.
 * Every event must be stored exactly once with gapless revisions, no SQLITE_BUSY may escape, and
 * the subscriber (which sees other processes' appends only by polling) gets every event in order.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { SqliteEventLog } from '../src/streams/sqlite/sqlite-event-log.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'sqlite-log-appender.ts');
const CHILDREN = 4;
const COUNT = 150;
const dir = mkdtempSync(join(tmpdir(), 'dgent-sqlite-mp-'));
const path = join(dir, 'shared.db');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  child: ChildProcess;
  loaded: Promise<void>;
  exited: Promise<{ code: number | null; out: string; err: string }>;
}

function start(n: number): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, path, String(n), String(COUNT)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markLoaded: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (markLoaded = resolve));
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    if (out.includes('loaded\n')) markLoaded();
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      markLoaded();
      resolve({ code, out, err });
    });
  });
  return { child, loaded, exited };
}

describe('SqliteEventLog shared by processes', () => {
  it(`${CHILDREN} processes appending with expectedRevision and retries store exactly ${CHILDREN * COUNT} events, gapless, with no SQLITE_BUSY escaping`, async () => {
    const runs = Array.from({ length: CHILDREN }, (_, n) => start(n));
    await Promise.all(runs.map((r) => r.loaded));
    for (const r of runs) r.child.stdin!.end('go\n');
    const results = await Promise.all(runs.map((r) => r.exited));
    for (const r of results) {
      expect(r.err).not.toMatch(/SQLITE_BUSY|SQLITE_LOCKED/);
      expect(r.code, r.err).toBe(0);
    }
    const summaries = results.map((r) => JSON.parse(r.out.trim().split('\n').pop()!) as { appended: number; conflicts: number });
    console.log(`multi-process: ${summaries.map((s) => `${s.appended} appended / ${s.conflicts} conflicts`).join(', ')}`);

    const log = new SqliteEventLog({ path, pollIntervalMs: 10 });
    try {
      const all: RecordedEvent[] = [];
      for await (const e of log.readAll()) all.push(e);
      expect(all).toHaveLength(CHILDREN * COUNT);
      expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
      const keys = all.map((e) => JSON.stringify(e.data));
      expect(new Set(keys).size).toBe(CHILDREN * COUNT);
      for (let c = 0; c < CHILDREN; c++) for (let i = 0; i < COUNT; i++) expect(keys).toContain(JSON.stringify({ child: String(c), i }));
      for (const stream of ['shared-a', 'shared-b', 'shared-c']) {
        const revs = all.filter((e) => e.stream === stream).map((e) => e.revision);
        expect(revs, stream).toEqual(revs.map((_, i) => i + 1));
        expect(await log.revision(stream)).toBe(revs.length);
      }
    } finally {
      await log.close();
    }
  }, 180_000);

  it('a subscriber in this process receives, in order and exactly once, what other processes append while it runs', async () => {
    const subPath = join(dir, 'subscribed.db');
    const log = new SqliteEventLog({ path: subPath, pollIntervalMs: 20 });
    await log.revision('x'); // the schema exists before the children start
    const seen: RecordedEvent[] = [];
    const sub = log.subscribe({}, (e) => void seen.push(e));
    try {
      const runs = Array.from({ length: 2 }, (_, n) => {
        const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, subPath, String(n), '60'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let err = '';
        child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
        child.stdin!.end('go\n');
        return new Promise<{ code: number | null; err: string }>((resolve) => child.on('close', (code) => resolve({ code, err })));
      });
      for (const r of await Promise.all(runs)) expect(r.code, r.err).toBe(0);
      const until = Date.now() + 30_000;
      while (seen.length < 120 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
      expect(seen.map((e) => e.position)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    } finally {
      await sub.close();
      await log.close();
    }
  }, 120_000);
});
