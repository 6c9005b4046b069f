/**
 * `dgent/langgraph` without pg installed: the entry loads, DgentSaver works on SQLite, and
 * `{ connectionString }` (which loads pg lazily) fails with an error naming the package. A real
 * child process in a temporary project whose node_modules links every installed package but pg
 * and ioredis (the technique of test/missing-driver.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MISSING = new Set(['pg', 'ioredis']);
let project: string;

function linkPackages(from: string, to: string, scope = ''): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue;
    const full = scope ? `${scope}/${name}` : name;
    if (!scope && name.startsWith('@')) {
      linkPackages(join(from, name), join(to, name), name);
      continue;
    }
    if (MISSING.has(full)) continue;
    symlinkSync(join(from, name), join(to, name));
  }
}

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'dgent-lg-no-pg-'));
  cpSync(join(ROOT, 'src'), join(project, 'src'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'no-pg', type: 'module', private: true }));
  linkPackages(join(ROOT, 'node_modules'), join(project, 'node_modules'));
  writeFileSync(
    join(project, 'probe.ts'),
    `import { DgentSaver } from './src/langgraph.js';
const out: Record<string, unknown> = {};
const local = new DgentSaver({ path: './graph.db' });
out.sqlite = (await local.getTuple({ configurable: { thread_id: 't' } })) === undefined;
await local.close();
try {
  await new DgentSaver({ connectionString: 'postgres://127.0.0.1:5432/x' }).getTuple({ configurable: { thread_id: 't' } });
  out.pg = 'no error';
} catch (e) {
  out.pg = { name: (e as Error).name, message: (e as Error).message };
}
console.log(JSON.stringify(out));
`,
  );
}, 120_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

it("dgent/langgraph loads without pg; { connectionString } says to install pg", () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'probe.ts'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  expect(line.startsWith('{'), `${r.stdout}\n${r.stderr}`).toBe(true);
  expect(JSON.parse(line)).toEqual({
    sqlite: true,
    pg: { name: 'DgentError', message: "DgentSaver with a connectionString needs the 'pg' package: npm install pg" },
  });
});
