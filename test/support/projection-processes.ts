/** Spawning and watching the children of the runner process tests (see projection-child.ts). */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./projection-child.ts', import.meta.url));

/** A running child: its output so far, a wait for a line, and its exit. */
export interface Child {
  proc: ChildProcess;
  out(): string;
  /** resolves when a line matching `re` was printed (rejects if the child exits first or after `timeoutMs`) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): Promise<void>;
}

export function spawnChild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    out += c;
    for (const w of [...waiters]) w();
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of [...waiters]) w();
  });
  return {
    proc,
    exited,
    out: () => out,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`no line matching ${re} within ${timeoutMs} ms; output:\n${out}\nstderr:\n${err}`)), timeoutMs);
        const finish = (e?: Error, line?: string): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (e) reject(e);
          else resolve(line!);
        };
        const check = (): void => {
          const line = out.split('\n').find((l) => re.test(l));
          if (line !== undefined) return finish(undefined, line);
          if (done) finish(new Error(`child exited before printing ${re}; output:\n${out}\nstderr:\n${err}`));
        };
        waiters.add(check);
        check();
      });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}
