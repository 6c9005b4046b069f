/**
 * The real `dgent` binary given a SQLite file (or file-log directory) that does not exist: commands
 * that only read fail with "no such database file: <path>" and exit 3, and create nothing (not the
 * file, not its parent folders); commands that write (import, rebuild) create it as before.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dgent, expectOneLineError, FIXTURE } from './cli-support.js';
import { readFileSync } from 'node:fs';

const dir = mkdtempSync(join(tmpdir(), 'dgent-cli-missing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** a file in a folder that does not exist either */
const missing = join(dir, 'typo', 'app.db');
const URL_ = `sqlite:${missing}`;
const escaped = missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const READING: [string, string[]][] = [
  ['streams', ['streams', URL_]],
  ['read', ['read', 'agent-1', '-u', URL_]],
  ['tail', ['tail', URL_]],
  ['state', ['state', 'agent-1', '-u', URL_]],
  ['get', ['get', 'user:1', '-u', URL_]],
  ['history', ['history', 'user:1', '-u', URL_]],
  ['audit', ['audit', URL_]],
  ['stats', ['stats', URL_]],
  ['stats --views', ['stats', URL_, '--views']],
  ['verify', ['verify', URL_]],
  ['verify --views', ['verify', URL_, '--views']],
  ['export', ['export', URL_]],
  ['ui', ['ui', URL_]],
];

describe('dgent reading a SQLite file that does not exist', () => {
  it.each(READING)('%s fails with "no such database file" (exit 3) and creates nothing', async (_name, args) => {
    const r = await dgent(args);
    expectOneLineError(r, 3, new RegExp(`no such database file: ${escaped}$`));
    expect(r.stdout).toBe('');
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);

  it('--json too: the error on stderr, exit 3, nothing created', async () => {
    const r = await dgent(['streams', URL_, '--json']);
    expectOneLineError(r, 3, /no such database file/);
    expect(existsSync(join(dir, 'typo'))).toBe(false);
  }, 120_000);

  it('a file log whose directory does not exist: "no such log directory" (exit 3), nothing created', async () => {
    const r = await dgent(['verify', `file:${join(dir, 'nolog')}`]);
    expectOneLineError(r, 3, /no such log directory: .*nolog$/);
    expect(readdirSync(dir)).toEqual([]);
  }, 120_000);
});

describe('dgent writing to a SQLite file that does not exist', () => {
  it('import creates the file (and its folders) and writes the events', async () => {
    const target = join(dir, 'new', 'import.db');
    const r = await dgent(['import', `sqlite:${target}`, '--json'], { input: readFileSync(FIXTURE, 'utf8') });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(target)).toBe(true);
    expect((await dgent(['verify', `sqlite:${target}`])).stdout).toMatch(/intact/);
  }, 120_000);

  it('rebuild creates the file', async () => {
    const target = join(dir, 'new2', 'rebuild.db');
    const r = await dgent(['rebuild', 'all', `sqlite:${target}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(target)).toBe(true);
  }, 120_000);
});
