/**
 * The writer lock across real processes: while one process holds a log, another writer gets
 * LockedError (or waits); once the holder is SIGKILLed, a new writer takes over.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockedError } from '../src/core/errors.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'file-log-lock.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function child(...args: string[]): { proc: ChildProcess; line: (match: RegExp) => Promise<string>; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  const waiters: (() => void)[] = [];
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    for (const w of waiters.splice(0)) w();
  });
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  const line = (match: RegExp): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const l = out.split('\n').find((x) => match.test(x));
        if (l !== undefined) return resolve(l);
        if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`child exited without printing ${match}; output: ${out}`));
        waiters.push(check);
      };
      proc.on('close', check);
      check();
    });
  return { proc, line, exited };
}

describe('FileEventLog writer lock', () => {
  it('a second process gets LockedError while the first holds the log; after SIGKILL of the holder a new writer takes over', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-file-lock-'));
    dirs.push(dir);
    const holder = child('hold', dir);
    await holder.line(/^ready$/);

    const second = child('try', dir, 'fail');
    expect(await second.line(/^LOCKED/)).toContain(`pid ${holder.proc.pid}`);
    expect(await second.exited).toBe(0);

    const here = new FileEventLog({ dir });
    await expect(here.open()).rejects.toBeInstanceOf(LockedError);
    const reader = new FileEventLog({ dir, readOnly: true });
    expect(await reader.revision('held')).toBe(1);
    await reader.close();

    const waiter = child('try', dir, 'wait');
    await waiter.line(/^opening$/);
    await new Promise((r) => setTimeout(r, 300)); // let it find the lock held and start waiting
    holder.proc.kill('SIGKILL');
    expect(await waiter.line(/^OK/)).toBe('OK 2');
    expect(await waiter.exited).toBe(0);

    // the failed open left nothing behind: the same instance opens once the lock is free
    await here.open();
    expect(await here.revision('held')).toBe(2);
    await here.close();
  });
});
