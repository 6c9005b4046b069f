/**
 * One definition of "this is a CI run" (src/testing/ci.ts), and what it decides: under CI, with
 * any truthy CI value, the FAISS suites are required, never skipped.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isCI } from '../src/testing/ci.js';
import { faissPlan } from './vector-support.js';

describe('isCI', () => {
  it.each(['true', '1', 'True', 'TRUE', 'yes', ' true '])('CI=%j is a CI run', (v) => {
    expect(isCI({ CI: v })).toBe(true);
  });

  it.each([undefined, '', '0', 'false', 'False', ' '])('CI=%j is not', (v) => {
    expect(isCI(v === undefined ? {} : { CI: v })).toBe(false);
  });
});

describe('FAISS under CI', () => {
  it('CI=1 makes the FAISS suites required when faiss-node does not load (they run, and fail, instead of skipping)', () => {
    expect(faissPlan(isCI({ CI: '1' }), false)).toEqual({ engines: ['faiss', 'js'], runFaiss: true });
    expect(faissPlan(isCI({ CI: 'true' }), false)).toEqual({ engines: ['faiss', 'js'], runFaiss: true });
    expect(faissPlan(isCI({}), false)).toEqual({ engines: ['js'], runFaiss: false });
    expect(faissPlan(isCI({ CI: '0' }), true)).toEqual({ engines: ['faiss', 'js'], runFaiss: true });
  });

  it.each(['1', 'true'])('the test helpers of a process started with CI=%s see a CI run', (v) => {
    // the helpers read the environment once at import: a child process is the honest way to vary it
    const code = "import('./test/vector-support.ts').then((m) => process.stdout.write(JSON.stringify({ inCI: m.inCI, runFaiss: m.runFaiss })))";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { env: { ...process.env, CI: v }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ inCI: true, runFaiss: true });
  });
});
