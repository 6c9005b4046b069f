/**
 * `npm pack` (and so `npm publish`) builds first: every export points into dist, and dist is not in
 * git. The package.json is this repo's, in a temp copy whose `build` script is swapped for a stub
 * that writes dist/index.js, so the test checks the wiring (pack runs the build, and its output is
 * packed) without a minutes-long tsc + vite build; `npm ci` and `npm test` must not build.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './types/consumer-project.js';

const run = promisify(execFile);

interface PackageJson {
  scripts: Record<string, string>;
  [k: string]: unknown;
}

let dir: string;
let pkg: PackageJson;

beforeAll(async () => {
  pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  dir = await mkdtemp(join(tmpdir(), 'dgent-prepack-'));
  const copy: PackageJson = {
    ...pkg,
    scripts: {
      ...pkg.scripts,
      build: `node -e "require('fs').mkdirSync('dist',{recursive:true});require('fs').writeFileSync('dist/index.js','export {};')"`,
    },
  };
  await writeFile(join(dir, 'package.json'), JSON.stringify(copy, null, 2));
  await writeFile(join(dir, 'README.md'), '# dgent\n');
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('npm pack in a checkout without dist runs the build and packs dist/index.js', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: dir, maxBuffer: 1 << 24 });
    const json = stdout.slice(stdout.indexOf('['));
    const [listing] = JSON.parse(json) as [{ files: { path: string }[] }];
    expect(listing.files.map((f) => f.path)).toContain('dist/index.js');
  }, 120_000);

  it('npm ci / npm install / npm test do not build (no prepare, install or pretest hook runs the build)', () => {
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall', 'pretest', 'test']) {
      expect(pkg.scripts[hook] ?? '', hook).not.toMatch(/\bbuild\b|\btsc\b|vite build/);
    }
  });
});
