/**
 * The package as published, built once:
 * - its types, as a consumer's compiler sees them: `dist` is laid out in a temp project's
 *   node_modules with only the packages a consumer would have, and the files in
 *   test/types/consumer are compiled with strict + exactOptionalPropertyTypes + skipLibCheck
 *   false. Their `@ts-expect-error` lines are the negative cases: tsc fails on one that is not an
 *   error;
 * - its source maps: every `sources` entry of every `.js.map` in the package (as `npm pack`
 *   selects it from package.json "files") resolves to a file in that same package.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, buildPackage, consumerProject } from './types/consumer-project.js';

const run = promisify(execFile);

/** What `npm install dgent` brings: the dependencies, plus @types/node that a TypeScript consumer has. */
const CORE = ['immer', 'kysely', '@standard-schema/spec', 'lru-cache', '@node-rs/crc32', 'better-sqlite3', '@types/node'];
/** The optional drivers as a consumer installs them: pg without @types/pg, ioredis and the EventStoreDB client with their own types. */
const DRIVERS = ['pg', 'ioredis', '@eventstore/db-client'];
/** The driver types we must not need, but must not conflict with either. */
const DRIVER_TYPES = ['@types/pg', '@types/better-sqlite3'];

// a build and a tsc run per check: minutes on a loaded 2-core machine, not seconds
const BUILD_TIMEOUT = 600_000;
const TIMEOUT = 300_000;

let pkg: string;
/** what `npm pack` puts in the package */
let packed: Set<string>;

beforeAll(async () => {
  // a copy of the package directory, built there as `npm run build` builds (maps name their
  // sources relative to where dist and src are), then listed as `npm pack` selects it
  pkg = await mkdtemp(join(tmpdir(), 'dgent-pack-'));
  for (const f of ['package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json']) await cp(join(ROOT, f), join(pkg, f));
  await cp(join(ROOT, 'src'), join(pkg, 'src'), { recursive: true });
  await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
  await buildPackage(join(pkg, 'dist'), pkg);
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: pkg, maxBuffer: 1 << 26 });
  const [listing] = JSON.parse(stdout) as [{ files: { path: string }[] }];
  packed = new Set(listing.files.map((f) => f.path));
}, BUILD_TIMEOUT);

afterAll(async () => {
  if (pkg) await rm(pkg, { recursive: true, force: true });
});

describe('published declarations, compiled as a consumer (strict, exactOptionalPropertyTypes, skipLibCheck false)', () => {
  let built: string;
  beforeAll(() => {
    built = join(pkg, 'dist');
  });

  async function check(packages: readonly string[], files: readonly string[], exact = true): Promise<string> {
    const project = await consumerProject(built, packages, files, exact);
    try {
      return await project.check();
    } finally {
      await project.remove();
    }
  }

  it(
    "the core and vector entries compile with no driver and no driver types installed (faiss-node is optional too): read-only loads, inferred CachedAgent, undefined options, typed migrations and event logs",
    async () => {
      expect(await check(CORE, ['core.ts', 'vector.ts'])).toBe('');
    },
    TIMEOUT,
  );

  it(
    'the core entry compiles the same without exactOptionalPropertyTypes (how most projects compile)',
    async () => {
      expect(await check(CORE, ['core.ts'], false)).toBe('');
    },
    TIMEOUT,
  );

  it(
    'the driver entries compile with pg (no @types/pg), ioredis and the EventStoreDB client installed',
    async () => {
      expect(await check([...CORE, ...DRIVERS], ['drivers.ts'])).toBe('');
    },
    TIMEOUT,
  );

  it(
    'every entry still compiles when @types/pg and @types/better-sqlite3 are installed too',
    async () => {
      expect(await check([...CORE, ...DRIVERS, ...DRIVER_TYPES, 'faiss-node'], ['core.ts', 'drivers.ts', 'vector.ts'])).toBe('');
    },
    TIMEOUT,
  );
});

describe('published source maps', () => {
  it('every .js.map in the package names only sources that are in the package', async () => {
    const maps = [...packed].filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(50);
    const missing: string[] = [];
    for (const map of maps) {
      const { sources, sourceRoot } = JSON.parse(await readFile(join(pkg, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      expect(sources.length).toBeGreaterThan(0);
      for (const source of sources) {
        const resolved = posix.normalize(posix.join(posix.dirname(map), sourceRoot ?? '', source));
        if (!packed.has(resolved)) missing.push(`${map} -> ${resolved}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('every .js file the package ships has its map beside it', () => {
    const js = [...packed].filter((f) => f.startsWith('dist/') && f.endsWith('.js'));
    expect(js.length).toBeGreaterThan(50);
    expect(js.filter((f) => !packed.has(`${f}.map`))).toEqual([]);
  });
});
