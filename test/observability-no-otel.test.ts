/**
 * @opentelemetry/api is an optional peer dependency. In a project without it (the current sources
 * copied into a temp project whose node_modules links every installed package except the
 * OpenTelemetry ones, see support/no-driver-project.ts), `dgent` loads, a Store and its log work,
 * stats() and the onOperation hook work, and nothing throws. Real child process under tsx.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeProjectWithout } from './support/no-driver-project.js';

const MISSING = new Set(['@opentelemetry/api', '@opentelemetry/sdk-trace-base', '@opentelemetry/sdk-metrics', '@opentelemetry/sdk-trace', '@opentelemetry/core', '@opentelemetry/resources', '@opentelemetry/semantic-conventions']);

let project: string;

beforeAll(() => {
  project = makeProjectWithout(MISSING, 'dgent-no-otel-');
  writeFileSync(
    join(project, 'probe.ts'),
    `import { createRequire } from 'node:module';
import { MemoryEventLog, Store } from './src/index.js';
let resolvable = true;
try { createRequire(import.meta.url).resolve('@opentelemetry/api'); } catch { resolvable = false; }
const ops: string[] = [];
const log = new MemoryEventLog({ stats: true });
const store = new Store({ log, sweepIntervalMs: 0, stats: true, onOperation: (e) => ops.push(e.target + '.' + e.op) });
await store.set('a', 1);
await store.get('a');
await store.get('b');
const health = await store.health();
const s = store.stats();
await store.close();
await log.close();
console.log(JSON.stringify({ resolvable, ops, get: s.operations.get, cache: s.cache, latencies: s.latencies, logAppends: log.stats().operations.append?.count, health: health.ok }));
`,
  );
}, 120_000);

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('a project without @opentelemetry/api', () => {
  it('the temp project really lacks it', () => {
    expect(existsSync(join(project, 'node_modules', '@opentelemetry', 'api'))).toBe(false);
    expect(existsSync(join(project, 'node_modules', 'hdr-histogram-js'))).toBe(true);
  });

  it('Store and log work: stats() counts and percentiles, the hook, health, and no error', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'probe.ts'], { cwd: project, encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).not.toMatch(/Error/);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    expect(out).toMatchObject({
      resolvable: false,
      ops: ['store.set', 'store.get', 'store.get'],
      get: { count: 2, errors: 0 },
      cache: { hits: 1, misses: 1, hitRatio: 0.5, evictions: 0 },
      latencies: true,
      logAppends: 1,
      health: true,
    });
    expect((out.get as { p99Ms: number }).p99Ms).toBeGreaterThan(0);
  }, 120_000);
});
