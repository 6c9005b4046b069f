/**
 * `requires` makes a lost capability fail the contract suites: a backend that drops appendMany,
 * onAppend, update, version/loadAt or subscribe together with its flag stays green without it
 * (the capability's tests skip) and goes red with it. The stripped backends are in
 * test/fixtures/contract-requires, run by a child vitest.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

interface Assertion {
  fullName: string;
  status: 'passed' | 'failed' | 'skipped' | 'pending' | 'todo';
  failureMessages: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'dgent-requires-'));
let results: Assertion[] = [];
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  const out = join(dir, 'report.json');
  const r = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'run', '--config', 'test/fixtures/contract-requires/vitest.config.ts', '--reporter=json', `--outputFile=${out}`, '-t', 'capabilit|appendMany|onAppend|update|expectedVersion|loadAt|subscribe'],
    { encoding: 'utf8', env: { ...process.env, CI: '' } },
  );
  expect(r.status, r.stderr).toBe(1); // some tests failed, as they must
  results = (JSON.parse(readFileSync(out, 'utf8')) as { testResults: { assertionResults: Assertion[] }[] }).testResults.flatMap((f) => f.assertionResults);
}, 120_000);

const suite = (prefix: string) => results.filter((a) => a.fullName.includes(prefix));

it.each([
  ['EventLog contract: required: stripped log', ['offers every required capability', 'appendMany appends', 'onAppend hooks']],
  ['DataAgent contract: required: stripped agent', ['offers every required capability', 'concurrent update increments', 'stale expectedVersion', 'loadAt returns', 'subscribe:']],
])('%s: each test of a lost required capability fails, naming it', (prefix, titles) => {
  const tests = suite(prefix);
  for (const title of titles) {
    const t = tests.find((a) => a.fullName.includes(title));
    expect(t, title).toBeDefined();
    expect(t!.status, title).toBe('failed');
    expect(t!.failureMessages.join('\n')).toMatch(/required/);
  }
});

it.each([
  ['EventLog contract: not required: stripped log', ['appendMany appends', 'onAppend hooks']],
  ['DataAgent contract: not required: stripped agent', ['concurrent update increments', 'stale expectedVersion', 'loadAt returns', 'subscribe:']],
])('%s: without requires the same loss only skips those tests (what requires exists to prevent)', (prefix, titles) => {
  const tests = suite(prefix);
  for (const title of titles) expect(tests.find((a) => a.fullName.includes(title))?.status, title).toBe('skipped');
  expect(tests.filter((a) => a.status === 'failed').map((a) => a.fullName)).toEqual([]);
});
