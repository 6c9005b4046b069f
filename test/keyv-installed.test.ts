/**
 * KeyvDgent's default `keyvVersion` follows the `keyv` installed beside dgent. Each case lays out a
 * user's project in a temp dir, as npm installs it: node_modules/dgent (a copy of src, so that Node
 * resolves keyv from there and not from this repo), node_modules/keyv (Keyv 5 from the `keyv5`
 * alias, Keyv 6, or none) and dgent's dependencies; a script there runs the real Keyv over
 * `new KeyvDgent({ log })` with no `keyvVersion` in a child process (tsx).
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './cli-support.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A user's project with `keyv` linked to this repo's node_modules/<keyv> (none when undefined). */
async function project(keyv: 'keyv' | 'keyv5' | undefined): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dgent-keyv-installed-'));
  dirs.push(dir);
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const modules = join(dir, 'node_modules');
  for (const name of [...Object.keys(pkg.dependencies), 'tsx']) {
    await mkdir(join(modules, name, '..'), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), join(modules, name), 'dir');
  }
  if (keyv !== undefined) await symlink(join(ROOT, 'node_modules', keyv), join(modules, 'keyv'), 'dir');
  await cp(join(ROOT, 'src'), join(modules, 'dgent/src'), { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'user', type: 'module', private: true }));
  return dir;
}

interface Outcome {
  ok: boolean;
  errors: string[];
  back: unknown;
  keys: string[];
  expiresAt: number | null;
  before: number;
  after: number;
}

/** Run `script` (an ES module) in `dir` with tsx; its last stdout line is JSON. */
function runIn(dir: string, script: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    void writeFile(join(dir, 'main.ts'), script).then(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'main.ts')], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => {
        if (code !== 0) return reject(new Error(`exit ${String(code)}: ${err}`));
        resolve(JSON.parse(out.trim().split('\n').pop()!) as Outcome);
      });
    }, reject);
  });
}

/** Keyv (the installed one) over a default KeyvDgent: one set with a 60 s ttl, read back. */
const withKeyv = (options: string) => `
import Keyv from 'keyv';
import { MemoryEventLog } from './node_modules/dgent/src/index.ts';
import { KeyvDgent } from './node_modules/dgent/src/keyv.ts';
const adapter = new KeyvDgent({ log: new MemoryEventLog(), sweepIntervalMs: 0${options} });
const keyv = new Keyv({ store: adapter, namespace: 'ns' });
const errors: string[] = [];
keyv.on('error', (e: unknown) => errors.push(String(e)));
const before = Date.now();
const ok = await keyv.set('a', { n: 1 }, 60_000);
const after = Date.now();
const back = await keyv.get('a');
const keys = (await adapter.store.list({ namespace: 'ns' })).items.map((i) => i.key);
const [v] = await adapter.store.versions('a', { namespace: 'ns' });
console.log(JSON.stringify({ ok, errors, back: back ?? null, keys, expiresAt: v?.expiresAt ?? null, before, after }));
await keyv.disconnect();
`;

const TIMEOUT = 120_000;

describe('KeyvDgent default keyvVersion: the installed keyv major', () => {
  it('with Keyv 5 installed, new KeyvDgent({ log }) under Keyv 5 stores sets with a relative ttl (no error event)', async () => {
    const r = await runIn(await project('keyv5'), withKeyv(''));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.back).toEqual({ n: 1 });
    expect(r.keys).toEqual(['a']); // Keyv 5's 'ns:' prefix is the Store namespace, not part of the key
    expect(r.expiresAt).toBeGreaterThanOrEqual(r.before + 60_000);
    expect(r.expiresAt).toBeLessThanOrEqual(r.after + 60_000);
  }, TIMEOUT);

  it('with Keyv 6 installed, new KeyvDgent({ log }) under Keyv 6 stores its absolute expires as the expiry', async () => {
    const r = await runIn(await project('keyv'), withKeyv(''));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.back).toEqual({ n: 1 });
    expect(r.keys).toEqual(['a']);
    expect(r.expiresAt).toBeGreaterThanOrEqual(r.before + 60_000);
    expect(r.expiresAt).toBeLessThanOrEqual(r.after + 60_000);
  }, TIMEOUT);

  it('an explicit keyvVersion wins: Keyv 5 installed, keyvVersion 6 fails the set with a ValidationError event', async () => {
    const r = await runIn(await project('keyv5'), withKeyv(', keyvVersion: 6'));
    expect(r.ok).toBe(false);
    expect(r.errors.join('\n')).toMatch(/ValidationError.*keyvVersion/);
    expect(r.keys).toEqual([]);
  }, TIMEOUT);

  it('with no keyv installed the default stays 6 (absolute expires)', async () => {
    const r = await runIn(await project(undefined), `
import { MemoryEventLog } from './node_modules/dgent/src/index.ts';
import { KeyvDgent } from './node_modules/dgent/src/keyv.ts';
const adapter = new KeyvDgent({ log: new MemoryEventLog(), sweepIntervalMs: 0 });
const before = Date.now();
const ok = await adapter.set('a', 1, before + 60_000);
const [v] = await adapter.versions('a');
console.log(JSON.stringify({ ok, errors: [], back: await adapter.get('a'), keys: [], expiresAt: v?.expiresAt ?? null, before, after: before }));
await adapter.disconnect();
`);
    expect(r.ok).toBe(true);
    expect(r.expiresAt).toBe(r.before + 60_000);
  }, TIMEOUT);
});
