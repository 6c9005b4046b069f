/**
 * The parent side of the event-log crash tests: run a writer fixture until it is SIGKILLed and
 * collect what it acknowledged.
 */
import { spawn } from 'node:child_process';

/** One acknowledged event, as the writer fixtures print it: [stream, revision, tag]. */
export type AckLine = [string, number, string];

/**
 * Run `fixture <target> <seed>` under tsx and SIGKILL it `delayMs` after it prints `ready` (or
 * after it starts, when `killAfterReady` is false, to hit start-up and recovery). Resolves with the
 * whole acknowledged lines only (the last line may be cut by the kill); rejects if the child exits
 * by itself.
 */
export function runUntilKilled(fixture: string, target: string, seed: number, killAfterReady: boolean, delayMs: number): Promise<AckLine[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, target, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = (): void => void child.kill('SIGKILL');
    if (!killAfterReady) timer = setTimeout(kill, delayMs);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (killAfterReady && timer === undefined && (out + chunk).includes('ready\n')) timer = setTimeout(kill, delayMs);
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited with ${code ?? signal} before being killed:\n${err}`));
      const lines = out.split('\n').slice(0, -1).filter((l) => l !== 'ready');
      resolve(lines.map((l) => JSON.parse(l) as AckLine));
    });
  });
}
