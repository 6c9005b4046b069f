import { describe, it, expect, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PersistentAgent } from '../src/agents/persistent-agent.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/persistent-writer.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'dgent-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Counter {
  n: number;
  pad: string;
}

function child(...args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
}

/** Collect complete stdout lines; resolves `firstLine` when one has arrived. */
function lines(c: ChildProcess): { all: string[]; firstLine: Promise<void>; exited: Promise<number | null> } {
  const all: string[] = [];
  let buf = '';
  let onFirst!: () => void;
  const firstLine = new Promise<void>((r) => (onFirst = r));
  c.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    all.push(...parts);
    if (all.length > 0) onFirst();
  });
  const exited = new Promise<number | null>((r) => c.on('exit', (code) => r(code)));
  return { all, firstLine, exited };
}

const tempFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('PersistentAgent under kill -9', () => {
  it('after each of 30 SIGKILLs a fresh agent loads the last acknowledged state or a newer one, and temp files never accumulate', async () => {
    const dir = mkdtempSync(join(root, 'k'));
    const path = join(dir, 'agent.json');
    let lastAck = 0;
    let killedInsideSave = 0;
    for (let kill = 0; kill < 30; kill++) {
      const c = child('loop', path);
      const out = lines(c);
      await out.firstLine;
      await new Promise((r) => setTimeout(r, Math.random() * 120));
      c.kill('SIGKILL');
      await out.exited;
      if (existsSync(`${path}.lock`)) killedInsideSave++;
      const acked = out.all.map(Number);
      expect(acked.every((v, i) => i === 0 || v === acked[i - 1]! + 1)).toBe(true);
      lastAck = Math.max(lastAck, acked[acked.length - 1] ?? 0);

      const fresh = new PersistentAgent<Counter>({ path });
      const state = await fresh.load();
      const version = await fresh.version();
      expect(version).toBeGreaterThanOrEqual(lastAck);
      expect(state.n).toBe(version); // one writer at a time: the state of version v has n = v
      expect(state.pad).toBe('x'.repeat((version * 7919) % 20_000));
      const h = await fresh.history(5);
      expect(h.map((s) => s.n)).toEqual(Array.from({ length: Math.min(5, version) }, (_, i) => version - i));
      lastAck = version;
      // a killed writer leaves at most its one temp file; the next writer clears it
      expect(tempFiles(dir).length).toBeLessThanOrEqual(1);
      await fresh.close();
    }
    // the kills must have hit writers inside their critical section, or this test proves nothing
    expect(killedInsideSave).toBeGreaterThan(0);
    const last = new PersistentAgent<Counter>({ path });
    await last.update((d) => void (d.n += 1));
    expect(tempFiles(dir)).toEqual([]);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['agent.json', 'agent.json.history.jsonl']);
    expect((await last.load()).n).toBe(lastAck + 1);
  }, 240_000);

  it('two processes each doing 100 update() increments on the same file end at exactly 200', async () => {
    const dir = mkdtempSync(join(root, 'c'));
    const path = join(dir, 'agent.json');
    const a = lines(child('increment', path, '100'));
    const b = lines(child('increment', path, '100'));
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(a.all).toEqual(['done']);
    expect(b.all).toEqual(['done']);
    const agent = new PersistentAgent<Counter>({ path });
    expect((await agent.load()).n).toBe(200);
    expect(await agent.version()).toBe(200);
    expect((await agent.history()).map((s) => s.n)).toEqual(Array.from({ length: 200 }, (_, i) => 200 - i));
  }, 120_000);
});
