/**
 * The drivers are optional peer dependencies. In a project where pg, ioredis,
 * @eventstore/db-client and faiss-node are NOT installed, importing `dgent/postgres`,
 * `dgent/redis` or `dgent/eventstoredb` fails with an error that names the package to install
 * (not Node's bare ERR_MODULE_NOT_FOUND), `dgent` and `dgent/vector` still load, and the
 * backends that load a driver lazily (SQLAgent, VectorAgent with engine 'faiss') say the same.
 *
 * Real child processes: the current sources are copied into a temporary project whose
 * node_modules links every installed package except those four, and each entry is imported there
 * under tsx.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProjectWithout } from './support/no-driver-project.js';

const MISSING = new Set(['pg', 'ioredis', '@eventstore/db-client', 'faiss-node']);

let project: string;

beforeAll(() => {
  project = makeProjectWithout(MISSING, 'dgent-no-drivers-');
  // the probe: run a snippet, print what it threw (or 'ok')
  writeFileSync(
    join(project, 'probe.ts'),
    `const code = process.argv[2]!;
try {
  const run = new Function('entry', 'return (async () => {' + code + '})()');
  await run((p: string) => import(new URL('./src/' + p, import.meta.url).href));
  console.log(JSON.stringify({ ok: true }));
} catch (e) {
  const err = e as { name?: string; code?: string; message?: string };
  console.log(JSON.stringify({ ok: false, name: err.name, code: err.code, message: err.message }));
}
`,
  );
}, 120_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

interface Probe {
  ok: boolean;
  name?: string;
  code?: string;
  message?: string;
}

/** Run `code` (an async function body; `entry('postgres.ts')` imports an entry of the copied sources) in a child process in the temp project. */
function probe(code: string): Probe {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'probe.ts', code], { cwd: project, encoding: 'utf8', timeout: 120_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`probe printed no result (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return JSON.parse(line) as Probe;
}

describe('a project without the optional drivers', () => {
  it('the temp project really lacks them', () => {
    for (const pkg of MISSING) expect(existsSync(join(project, 'node_modules', pkg)), pkg).toBe(false);
    const r = probe(`await import('pg');`);
    expect(r.ok).toBe(false);
    expect(r.code).toBe('ERR_MODULE_NOT_FOUND');
  });

  it.each([
    ['postgres.ts', 'dgent/postgres', 'pg'],
    ['redis.ts', 'dgent/redis', 'ioredis'],
    ['eventstoredb.ts', 'dgent/eventstoredb', '@eventstore/db-client'],
  ])("importing %s fails with \"%s needs the '%s' package: npm install ...\"", (file, entry, pkg) => {
    const r = probe(`await entry('${file}');`);
    expect(r.ok).toBe(false);
    expect(r.name).toBe('DgentError');
    expect(r.message).toBe(`${entry} needs the '${pkg}' package: npm install ${pkg}`);
  });

  it('dgent loads, and SQLAgent with a connectionString says to install pg', () => {
    const r = probe(`
      const { SQLAgent, VolatileAgent } = await entry('index.ts');
      const v = new VolatileAgent();
      await v.save({ n: 1 });
      await new SQLAgent({ connectionString: 'postgres://127.0.0.1:5432/db', id: 'a' }).load();`);
    expect(r.ok).toBe(false);
    expect(r.name).toBe('DgentError');
    expect(r.message).toBe("SQLAgent with a connectionString needs the 'pg' package: npm install pg");
  });

  it("dgent/vector loads and searches with the TypeScript index; engine 'faiss' names faiss-node", () => {
    const auto = probe(`
      const { VectorAgent } = await entry('vector.ts');
      const m = new VectorAgent({ dimension: 2, metric: 'l2', engine: 'auto' });
      await m.upsert([{ id: 'a', vector: [0, 1] }, { id: 'b', vector: [1, 0] }]);
      const hits = await m.search([0.9, 0.1], { k: 1 });
      if (hits[0].id !== 'b') throw new Error('wrong hit ' + JSON.stringify(hits));`);
    expect(auto).toEqual({ ok: true });
    const faiss = probe(`
      const { VectorAgent } = await entry('vector.ts');
      const m = new VectorAgent({ dimension: 2, metric: 'l2', engine: 'faiss' });
      await m.upsert([{ id: 'a', vector: [0, 1] }]);`);
    expect(faiss.ok).toBe(false);
    expect(faiss.message).toMatch(/faiss-node/);
    expect(faiss.message).toMatch(/install it/);
  });
});
