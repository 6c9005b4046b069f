import { defineConfig } from 'vitest/config';

/**
 * Test files run 3 at a time (DGENT_TEST_WORKERS overrides). Vitest's default is one worker less
 * than the CPU count: 1 on the 2-core CI machine, so the files ran one after another. Most of the
 * suite waits (on PostgreSQL, Redis, timers, child processes), so three workers overlap the waits.
 *
 * No file has to run alone: each keeps its server state to itself (unique PostgreSQL schemas, and
 * application_names for the tests that terminate connections; unique Redis key prefixes, no
 * FLUSHDB; its own TCP proxies, protocol doubles and embedded servers on ephemeral ports; its own
 * temporary directories), and no test stops a shared server. A test file that needs the servers to
 * itself must run in a project of its own with `fileParallelism: false`.
 */
function workers(): number {
  const v = process.env.DGENT_TEST_WORKERS;
  if (v === undefined || v === '') return 3;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`DGENT_TEST_WORKERS must be an integer >= 1, got ${JSON.stringify(v)}`);
  return n;
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: workers(),
    globalSetup: ['test/support/global-setup.ts'],
  },
});
