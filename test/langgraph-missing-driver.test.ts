/**
 * `dgent/langgraph` without pg installed: the entry loads, DgentSaver works on SQLite, and
 * `{ connectionString }` (which loads pg lazily) fails with an error naming the package. A real
 * child process in a temporary project whose node_modules links every installed package but pg
 * and ioredis (the technique of test/missing-driver.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeProjectWithout } from './support/no-driver-project.js';

const MISSING = new Set(['pg', 'ioredis']);
let project: string;

beforeAll(() => {
  project = makeProjectWithout(MISSING, 'dgent-lg-no-pg-');
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
