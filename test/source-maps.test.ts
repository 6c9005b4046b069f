/**
 * The source maps we publish must point at files we publish: every `sources` entry of every
 * `.js.map` in the package (as `npm pack` selects it from package.json "files") resolves to a file
 * in that same package.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildPackage } from './types/consumer-project.js';

const run = promisify(execFile);
const TIMEOUT = 300_000;

interface PackFile {
  path: string;
}

describe('published source maps', () => {
  let pkg: string;
  let files: Set<string>;

  beforeAll(async () => {
    // a copy of the package directory, built there as `npm run build` builds (maps name their
    // sources relative to where dist and src are), then listed as `npm pack` selects it
    pkg = await mkdtemp(join(tmpdir(), 'dgent-pack-'));
    for (const f of ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json']) await cp(join(ROOT, f), join(pkg, f));
    await cp(join(ROOT, 'src'), join(pkg, 'src'), { recursive: true });
    await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    await buildPackage(join(pkg, 'dist'), pkg);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const { stdout } = await run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, maxBuffer: 1 << 26 });
    const [packed] = JSON.parse(stdout) as [{ files: PackFile[] }];
    files = new Set(packed.files.map((f) => f.path));
  }, TIMEOUT);

  afterAll(async () => {
    if (pkg) await rm(pkg, { recursive: true, force: true });
  });

  it('every .js.map in the package names only sources that are in the package', async () => {
    const maps = [...files].filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(await readFile(join(pkg, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      expect(sources.length).toBeGreaterThan(0);
      for (const source of sources) {
        const resolved = posix.normalize(posix.join(posix.dirname(map), sourceRoot ?? '', source));
        if (!files.has(resolved)) missing.push(`${map} -> ${resolved}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every .js file the package ships has its map beside it', () => {
    const js = [...files].filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(50);
    expect(js.filter((f) => !files.has(`${f}.map`))).toEqual([]);
  });
});
