/**
 * openLog/openAgent by URL in a project without the optional drivers (pg, ioredis,
 * @eventstore/db-client): the error names the package to install, and the driver-free URLs still
 * open. Real child processes over a copy of the sources whose node_modules lacks those packages
 * (the same set-up as test/missing-driver.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProjectWithout } from './support/no-driver-project.js';

const MISSING = new Set(['pg', 'ioredis', '@eventstore/db-client', 'faiss-node']);
let project: string;

beforeAll(() => {
  project = makeProjectWithout(MISSING, 'dgent-open-no-drivers-');
  writeFileSync(
    join(project, 'probe.ts'),
    `const { openLog, openAgent } = await import('./src/index.ts');
const results: unknown[] = [];
for (const [what, run] of [
  ['postgres log', () => openLog('postgres://127.0.0.1:5432/db')],
  ['redis log', () => openLog('redis://127.0.0.1:6379')],
  ['esdb log', () => openLog('esdb://127.0.0.1:2113?tls=false')],
  ['redis agent', () => openAgent('redis://127.0.0.1:6379', 'k')],
  ['sqlite log', async () => { const l = await openLog('sqlite:' + process.argv[2]); await l.append('s', [{ type: 'T', data: 1 }]); await l.close(); return l; }],
] as const) {
  try {
    await run();
    results.push({ what, ok: true });
  } catch (e) {
    results.push({ what, ok: false, name: (e as Error).name, message: (e as Error).message });
  }
}
console.log(JSON.stringify(results));
`,
  );
}, 120_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('backends by URL without the optional drivers', () => {
  it('each network URL names the package to install; sqlite: still works', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'probe.ts', join(project, 'x.db')], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(line.startsWith('['), `${r.stdout}\n${r.stderr}`).toBe(true);
    expect(JSON.parse(line)).toEqual([
      { what: 'postgres log', ok: false, name: 'DgentError', message: "dgent/postgres needs the 'pg' package: npm install pg" },
      { what: 'redis log', ok: false, name: 'DgentError', message: "dgent/redis needs the 'ioredis' package: npm install ioredis" },
      { what: 'esdb log', ok: false, name: 'DgentError', message: "dgent/eventstoredb needs the '@eventstore/db-client' package: npm install @eventstore/db-client" },
      { what: 'redis agent', ok: false, name: 'DgentError', message: "dgent/redis needs the 'ioredis' package: npm install ioredis" },
      { what: 'sqlite log', ok: true },
    ]);
  }, 120_000);
});
