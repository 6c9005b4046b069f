/**
 * A consumer project for type tests: the package as `npm install dgent` would lay it out (the
 * built `dist` and package.json under node_modules/dgent, its dependencies beside it), and the
 * consumer's files compiled with `strict`, `exactOptionalPropertyTypes` and `skipLibCheck: false`,
 * so every declaration file we ship is checked as a consumer's compiler sees it.
 *
 * Only the packages named are visible: the devDependencies (@types/better-sqlite3, @types/pg, ...)
 * are not, so a declaration that needs them fails here.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

/** Build the package in `root` (default: this repo) into `outDir`, as `npm run build` does into dist. */
export async function buildPackage(outDir: string, root = ROOT): Promise<void> {
  try {
    await run(process.execPath, [TSC, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], { cwd: root, maxBuffer: 1 << 24 });
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`the package does not build (tsc -p tsconfig.build.json):\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

export interface ConsumerProject {
  dir: string;
  /** Type-check the consumer files; resolves to tsc's diagnostics ('' when clean). */
  check(): Promise<string>;
  remove(): Promise<void>;
}

/**
 * Lay out a consumer project in a temp dir (compiled with `exactOptionalPropertyTypes` unless told
 * otherwise: most projects leave it off, and inference must work in both modes): node_modules/dgent holds a copy of package.json and
 * `dist` (built from `built`), `packages` are linked from this repo's node_modules, `files` are the
 * consumer's sources (copied from test/types/consumer).
 */
export async function consumerProject(built: string, packages: readonly string[], files: readonly string[], exactOptionalPropertyTypes = true): Promise<ConsumerProject> {
  const dir = await mkdtemp(join(tmpdir(), 'dgent-consumer-'));
  const pkg = join(dir, 'node_modules/dgent');
  await mkdir(pkg, { recursive: true });
  await cp(built, join(pkg, 'dist'), { recursive: true });
  await writeFile(join(pkg, 'package.json'), await readFile(join(ROOT, 'package.json')));
  for (const name of packages) {
    const target = join(dir, 'node_modules', name);
    await mkdir(dirname(target), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), target, 'dir');
  }
  await mkdir(join(dir, 'src'));
  for (const f of files) await cp(join(ROOT, 'test/types/consumer', f), join(dir, 'src', f));
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2024'],
      strict: true,
      exactOptionalPropertyTypes,
      noUncheckedIndexedAccess: true,
      skipLibCheck: false,
      noEmit: true,
      // only what the consumer installed: no ambient @types from this repo
      typeRoots: [join(dir, 'node_modules/@types')],
    },
    include: ['src'],
  };
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  return {
    dir,
    async check() {
      try {
        await run(process.execPath, [TSC, '-p', join(dir, 'tsconfig.json')], { cwd: dir, maxBuffer: 1 << 24 });
        return '';
      } catch (e) {
        const { stdout, stderr } = e as { stdout?: string; stderr?: string };
        return `${stdout ?? ''}${stderr ?? ''}`.trim() || String(e);
      }
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
