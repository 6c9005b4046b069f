/**
 * The documentation is code: every ```ts block of README.md and docs/ type-checks as a module of a
 * strict user project (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess), and every
 * ```ts run block (the quick start first) runs in a fresh empty directory, as pasted into a new
 * project, and exits by itself; so does `npm run demo`. Relative links must reach a file and heading.
 * See scripts/check-docs.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { IN_CI } from '../src/testing/ci.js';
import { checkBlocks, checkLinks, collectBlocks, docFiles, dgentPaths, extractBlocks, formatDiagnostic, type DocBlock } from '../scripts/check-docs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const run = promisify(execFile);

/** How long a block may take before it counts as hanging (a bound, far above its normal second or two). */
const EXIT_BOUND_MS = 60_000;

const blocks = collectBlocks(root);
const runnable = blocks.filter((b) => b.flags.includes('run'));
const where = (b: DocBlock): string => `${relative(root, b.file)}:${b.line}`;

/** Run a block as `main.ts` of a new project in `dir`: `dgent` maps to src/ through tsconfig paths, as tsx honours them. */
async function runBlock(b: DocBlock, dir: string): Promise<string> {
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const compilerOptions = { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, paths: dgentPaths(root, 'src') };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions }, null, 2));
  writeFileSync(join(dir, 'main.ts'), b.code);
  try {
    const { stdout } = await run(process.execPath, ['--import', tsxLoader, 'main.ts'], {
      cwd: dir,
      timeout: EXIT_BOUND_MS,
      killSignal: 'SIGKILL',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    return stdout;
  } catch (e) {
    const err = e as { killed?: boolean; code?: unknown; stdout?: string; stderr?: string };
    const why = err.killed ? `did not exit within ${EXIT_BOUND_MS} ms (something left open: a missing close()?)` : `exited with ${String(err.code)}`;
    throw new Error(`${where(b)} ${why}\n--- stdout\n${err.stdout ?? ''}\n--- stderr\n${err.stderr ?? ''}`);
  }
}

describe('README and docs', () => {
  it('the README has a quick start block marked run, and the docs have TypeScript blocks to check', () => {
    const readme = join(root, 'README.md');
    expect(runnable.some((b) => b.file === readme)).toBe(true);
    expect(blocks.filter((b) => b.file !== readme).length).toBeGreaterThan(0);
    // no-check is for fragments only: keep them rare
    expect(blocks.filter((b) => b.flags.includes('no-check')).length).toBeLessThanOrEqual(2);
  });

  it("the README's error table lists every error class dgent exports, with its code", async () => {
    const exported = await import('../src/index.js');
    const classes = Object.entries(exported).filter(([, v]) => typeof v === 'function' && (v === exported.DgentError || v.prototype instanceof exported.DgentError));
    const codes = Object.fromEntries(classes.map(([name, C]) => [name, (Reflect.construct(C as new () => InstanceType<typeof exported.DgentError>, []) as { code: string }).code]));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const table = Object.fromEntries([...readme.matchAll(/^\| `(\w+Error)` \| `([A-Z_]+)` \|/gm)].map((m) => [m[1]!, m[2]!]));
    expect(table).toEqual(codes);
    expect(Object.keys(codes)).toContain('ClosedError');
  });

  it('every ts block type-checks under strict and exactOptionalPropertyTypes', () => {
    const diagnostics = checkBlocks(root, blocks).map((d) => formatDiagnostic(root, d));
    expect(diagnostics).toEqual([]);
  }, 120_000);

  // CI builds before it tests (.ci/run): there the blocks are also checked against the declarations the package ships
  it.runIf(IN_CI && existsSync(join(root, 'dist', 'index.d.ts')))('every ts block type-checks against the built dist/*.d.ts too', () => {
    const diagnostics = checkBlocks(root, blocks, 'dist').map((d) => formatDiagnostic(root, d));
    expect(diagnostics).toEqual([]);
  }, 120_000);

  it('every relative link between README.md and docs/ points at a file and heading that exist', () => {
    expect(checkLinks(docFiles(root)).map((d) => formatDiagnostic(root, d))).toEqual([]);
  });

  it('a link to a missing heading or file is reported', () => {
    const md = join(root, '.tmp', `links-${process.pid}.md`);
    mkdirSync(dirname(md), { recursive: true });
    writeFileSync(md, '# Redis save (✗)\n\n[ok](#redis-save-) [gone](#redis-save) [file](../docs/durability.md#closing) [none](../docs/nothing.md)\n');
    try {
      expect(checkLinks([md]).map((d) => d.message)).toEqual(['link to a missing heading: #redis-save', 'link to a missing heading: ../docs/durability.md#closing', 'link to a missing file: ../docs/nothing.md']);
    } finally {
      rmSync(md, { force: true });
    }
  });

  it('a block with a type error is reported at its line in the Markdown file', () => {
    const md = [
      '# t',
      '',
      '```ts',
      "import { VolatileAgent } from 'dgent';",
      "const a = new VolatileAgent<{ n: number }>({ initial: { n: 'one' } });",
      'await a.close();',
      '```',
      '',
      '```ts no-check',
      'this is a fragment',
      '```',
    ].join('\n');
    const diagnostics = checkBlocks(root, extractBlocks(md, join(root, 'fake.md')));
    expect(diagnostics.map((d) => d.line)).toEqual([5]);
    expect(diagnostics[0]!.message).toMatch(/not assignable to type 'number'/);
  }, 120_000);

  it('npm run demo (examples/demo.ts) survives its restart on a file and on SQLite and exits by itself', async () => {
    const { stdout } = await run(process.execPath, ['--import', tsxLoader, join(root, 'examples', 'demo.ts')], {
      cwd: root,
      timeout: 2 * EXIT_BOUND_MS,
      killSignal: 'SIGKILL',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(stdout.match(/restarted and remembers 4 turns; name = Ada/g)).toHaveLength(2);
    expect(stdout.match(/the loaded state is frozen: true/g)).toHaveLength(3);
  }, 2 * EXIT_BOUND_MS + 10_000);

  it.each(runnable.map((b) => [where(b), b] as const))('%s runs in an empty directory, twice, and exits by itself', async (_name, b) => {
    const dir = mkdtempSync(join(tmpdir(), 'dgent-docs-run-'));
    try {
      await runBlock(b, dir);
      await runBlock(b, dir); // the second run opens what the first one stored
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 2 * EXIT_BOUND_MS + 10_000);
});
