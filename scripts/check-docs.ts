/**
 * Type-checks every TypeScript block of README.md and docs/**\/*.md the way a user's project would
 * compile it: each block is its own ES module importing from `dgent` (and its subpaths), compiled
 * with `strict`, `exactOptionalPropertyTypes` and `noUncheckedIndexedAccess`.
 *
 * Info strings: ```ts is checked; ```ts run is also run by test/docs.test.ts (in a fresh directory,
 * as a user would paste it); ```ts no-check is skipped (keep those rare: fragments only).
 *
 * `dgent` resolves to src/ through `paths` (so `npm test` works in a fresh clone, before any build),
 * or with `--dist` to the built declarations in dist/ (what the published package ships; run
 * `npm run build` first). Only diagnostics in the blocks are reported in src mode: src itself is
 * compiled with the project's own settings; in dist mode every diagnostic counts.
 *
 * Relative links between the files (`[x](docs/durability.md#heading)`) are checked too: the file and
 * the heading must exist.
 *
 * Usage: `npm run check-docs` (or `tsx scripts/check-docs.ts [--dist] [files...]`).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** One fenced TypeScript block of a Markdown file. */
export interface DocBlock {
  /** the Markdown file, absolute */
  file: string;
  /** 1-based line of the opening fence */
  line: number;
  /** words after the language in the info string, e.g. `['run']` */
  flags: readonly string[];
  code: string;
}

/** A type error in a block, located in the Markdown file. */
export interface DocDiagnostic {
  file: string;
  /** 1-based line in the Markdown file */
  line: number;
  message: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)(.*)$/;
const TS_LANGS = new Set(['ts', 'typescript', 'mts', 'tsx']);

/** The fenced `ts` / `typescript` blocks of one Markdown text. */
export function extractBlocks(markdown: string, file: string): DocBlock[] {
  const lines = markdown.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const close = lines[j]!.trim();
      if (close.startsWith(fence!) && close.replace(/[`~]/g, '') === '') break;
      body.push(lines[j]!.startsWith(indent!) ? lines[j]!.slice(indent!.length) : lines[j]!);
    }
    if (TS_LANGS.has(lang!.toLowerCase())) {
      blocks.push({ file, line: i + 1, flags: rest!.trim().split(/\s+/).filter(Boolean), code: body.join('\n') + '\n' });
    }
    i = j; // skip the block, fenced code inside it included
  }
  return blocks;
}

/** README.md and every Markdown file under docs/. */
export function docFiles(root: string): string[] {
  const out = [join(root, 'README.md')];
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (e.name.endsWith('.md')) out.push(join(dir, e.name));
    }
  };
  walk(join(root, 'docs'));
  return out;
}

/** Every block of the given files (default: {@link docFiles}). */
export function collectBlocks(root: string, files = docFiles(root)): DocBlock[] {
  return files.flatMap((f) => extractBlocks(readFileSync(f, 'utf8'), f));
}

/**
 * `paths` for `dgent` and its subpaths, read from package.json's `exports`: `./dist/x.d.ts` in dist
 * mode, the matching `./src/x.ts` otherwise.
 */
export function dgentPaths(root: string, mode: 'src' | 'dist'): Record<string, string[]> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { types?: string }> };
  const paths: Record<string, string[]> = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    if (!types) continue;
    const file = mode === 'dist' ? types : types.replace(/^\.\/dist\//, './src/').replace(/\.d\.ts$/, '.ts');
    paths[sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`] = [resolve(root, file)];
  }
  return paths;
}

/** The compiler options a strict user project would have. */
export function userCompilerOptions(root: string, mode: 'src' | 'dist'): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2024.d.ts'],
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    noEmit: true,
    paths: dgentPaths(root, mode),
  };
}

/**
 * Type-check the blocks. Each is written as a module under `<root>/.tmp/` (inside the repository, so
 * that imports of zod, pg... resolve from its node_modules), then removed.
 */
export function checkBlocks(root: string, blocks: readonly DocBlock[], mode: 'src' | 'dist' = 'src'): DocDiagnostic[] {
  const dir = join(root, '.tmp', `check-docs-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir, { recursive: true });
  try {
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    const byFile = new Map<string, DocBlock>();
    const checked = blocks.filter((b) => !b.flags.includes('no-check'));
    checked.forEach((b, i) => {
      const name = join(dir, `block-${String(i).padStart(3, '0')}.ts`);
      // `export {}` keeps a block without imports a module (its top-level names stay its own)
      writeFileSync(name, `${b.code}\nexport {};\n`);
      byFile.set(resolve(name), b);
    });
    const program = ts.createProgram([...byFile.keys()], userCompilerOptions(root, mode));
    const diagnostics: DocDiagnostic[] = [];
    const report = (d: ts.Diagnostic): void => {
      const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      const block = d.file ? byFile.get(resolve(d.file.fileName)) : undefined;
      if (block && d.file && d.start !== undefined) {
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        diagnostics.push({ file: block.file, line: block.line + 1 + line, message });
      } else if (mode === 'dist' || !d.file) {
        const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '(compiler)';
        diagnostics.push({ file: where, line: 0, message });
      }
    };
    program.getOptionsDiagnostics().forEach(report);
    program.getGlobalDiagnostics().forEach(report);
    const files = mode === 'dist' ? program.getSourceFiles() : program.getSourceFiles().filter((f) => byFile.has(resolve(f.fileName)));
    for (const f of files) {
      program.getSyntacticDiagnostics(f).forEach(report);
      program.getSemanticDiagnostics(f).forEach(report);
    }
    return diagnostics;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens (`-1`, `-2` for repeats). */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    const h = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const base = h[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Relative links (`[text](docs/x.md#anchor)`) whose file or heading does not exist. */
export function checkLinks(files: readonly string[]): DocDiagnostic[] {
  const out: DocDiagnostic[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    let fenced = false;
    text.split('\n').forEach((line, i) => {
      if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
      if (fenced) return;
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const href = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(href)) continue; // https:, mailto:
        const [path, anchor] = href.split('#') as [string, string | undefined];
        const target = path === '' ? file : resolve(dirname(file), path);
        if (!existsSync(target)) {
          out.push({ file, line: i + 1, message: `link to a missing file: ${href}` });
        } else if (anchor !== undefined && target.endsWith('.md') && !headingAnchors(readFileSync(target, 'utf8')).has(anchor)) {
          out.push({ file, line: i + 1, message: `link to a missing heading: ${href}` });
        }
      }
    });
  }
  return out;
}

/** `file:line: message`, with the file relative to root. */
export function formatDiagnostic(root: string, d: DocDiagnostic): string {
  return d.line > 0 ? `${relative(root, d.file)}:${d.line}: ${d.message}` : `${d.file}: ${d.message}`;
}

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const mode = args.includes('--dist') ? 'dist' : 'src';
  const files = args.filter((a) => !a.startsWith('--')).map((f) => resolve(f));
  const blocks = collectBlocks(repoRoot, files.length > 0 ? files : undefined);
  const diagnostics = [...checkBlocks(repoRoot, blocks, mode), ...checkLinks(files.length > 0 ? files : docFiles(repoRoot))];
  for (const d of diagnostics) console.error(formatDiagnostic(repoRoot, d));
  const skipped = blocks.filter((b) => b.flags.includes('no-check')).length;
  console.log(`${blocks.length} TypeScript blocks, ${skipped} marked no-check, ${diagnostics.length} errors (type errors with dgent from ${mode}, broken links)`);
  process.exitCode = diagnostics.length > 0 ? 1 : 0;
}
