/**
 * Running the real `dgent` binary in a child process: from the sources through tsx (the default),
 * or the built one (`DGENT_CLI=dist`, after `npm run build`). Golden files live in
 * test/fixtures/cli/golden; `UPDATE_GOLDEN=1` rewrites them (review the diff before committing).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const FIXTURE = join(ROOT, 'test/fixtures/cli/log.jsonl');
const GOLDEN = join(ROOT, 'test/fixtures/cli/golden');

/** What a run printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The command line that starts the binary. */
function entry(): string[] {
  if (process.env.DGENT_CLI === 'dist') return [join(ROOT, 'dist/cli/main.js')];
  return ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
}

/** Run `dgent ...args` with `input` on stdin; stdout and stderr are pipes (no TTY). */
export function dgent(args: string[], options: { input?: string | Buffer; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, DGENT_URL: undefined, DGENT_LOG_URL: undefined, DGENT_STORE_URL: undefined, ...options.env };
    const child = spawn(process.execPath, [...entry(), ...args], { cwd: ROOT, env: env as NodeJS.ProcessEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined); // a command that does not read stdin may exit first
    child.stdin.end(options.input ?? '');
  });
}

/** Compare `value` with the golden file `name`.json (written when UPDATE_GOLDEN=1). */
export function expectGolden(name: string, value: unknown): void {
  const file = join(GOLDEN, `${name}.json`);
  const text = JSON.stringify(value, null, 2) + '\n';
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
    if (process.env.CI && !existsSync(file)) throw new Error(`golden file ${file} is missing`);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  expect(text).toBe(readFileSync(file, 'utf8'));
}

/** A failed run's shape: the exit code, one line on stderr starting with "dgent: ", no stack trace. */
export function expectOneLineError(run: CliRun, code: number, pattern: RegExp): void {
  expect(run.code, run.stderr).toBe(code);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^dgent: /);
  expect(lines[0]).toMatch(pattern);
  expect(run.stderr).not.toMatch(/\n\s+at /);
}
