/**
 * `dgent ui` end to end in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
 * the real binary serves a SQLite log imported from the CLI fixture; the test picks a stream, moves
 * the slider and checks the state and the diff (patches highlighted) shown. The screenshot is kept
 * as an artifact: .tmp/artifacts/ui-inspector.png (DGENT_ARTIFACTS overrides the folder). Skipped outside CI when Chromium is missing
 * (`.ci/run` installs it); in CI a missing browser fails.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dgent, FIXTURE, ROOT } from './cli-support.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);

const dir = mkdtempSync(join(tmpdir(), 'dgent-ui-'));
// .tmp is git-ignored; CI collects the screenshot from here (or from DGENT_ARTIFACTS)
const ARTIFACTS = process.env.DGENT_ARTIFACTS ?? join(ROOT, '.tmp/artifacts');
let server: ChildProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let url = '';

beforeAll(async () => {
  if (!haveChromium) return;
  if (!existsSync(join(ROOT, 'dist/ui/index.html'))) {
    const b = spawnSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'ui/vite.config.ts'], { cwd: ROOT, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`vite build failed:\n${b.stdout}\n${b.stderr}`);
  }
  const db = `sqlite:${join(dir, 'log.db')}`;
  const imported = await dgent(['import', db], { input: readFileSync(FIXTURE, 'utf8') });
  expect(imported.code, imported.stderr).toBe(0);
  // an import writes the log only: the Store views are built by a Store (here: dgent rebuild)
  const rebuilt = await dgent(['rebuild', 'all', db]);
  expect(rebuilt.code, rebuilt.stderr).toBe(0);
  const entry = process.env.DGENT_CLI === 'dist' ? [join(ROOT, 'dist/cli/main.js')] : ['--import', 'tsx', join(ROOT, 'src/cli/main.ts')];
  server = spawn(process.execPath, [...entry, 'ui', db, '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    let err = '';
    server!.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { url: string }).url);
    });
    server!.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    server!.on('exit', (code) => reject(new Error(`dgent ui exited with ${code}: ${err}`)));
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!haveChromium)('dgent ui in headless Chromium', () => {
  it('binds 127.0.0.1 on a port of its own and answers only GET', async () => {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect((await fetch(`${url}api/streams`, { method: 'POST' })).status).toBe(405);
  });

  it('picks a stream, moves the slider, shows the state and the diff with the patches highlighted', async () => {
    await page.goto(url);
    await page.locator('[data-stream="agent-1"]').click();
    await expect.poll(() => page.locator('[data-testid="stream-title"]').textContent()).toBe('agent-1');
    // the slider starts at the head (4): n = 4, tag t0 removed
    await expect.poll(() => page.locator('[data-testid="revision"]').textContent()).toBe('4');
    await expect.poll(async () => JSON.parse((await page.locator('[data-testid="state"]').textContent()) ?? 'null')).toMatchObject({ n: 4, tags: ['t1', 't2'] });
    // move the slider to revision 2
    await page.locator('[data-testid="slider"]').fill('2');
    await expect.poll(() => page.locator('[data-testid="revision"]').textContent()).toBe('2');
    await expect.poll(async () => JSON.parse((await page.locator('[data-testid="state"]').textContent()) ?? 'null')).toEqual({ n: 2, tags: ['t0', 't1'], at: { $dgent: 'Date', v: 0 } });
    // the diff from 1 to 2: the $patch's two operations, highlighted in the trees
    await expect.poll(() => page.locator('[data-testid="patches"] li').allTextContents()).toEqual(['r2 add /tags/1 = "t1"', 'r2 replace /n = 2']);
    expect(await page.locator('[data-testid="diff-after"] .mark-add').first().textContent()).toBe('"t1"');
    expect(await page.locator('[data-testid="diff-after"] .mark-replace').first().textContent()).toBe('2');
    expect(await page.locator('[data-testid="diff-before"] .mark-replace').first().textContent()).toBe('1');
    // a diff across two revisions lists both patches' operations
    await page.locator('[data-testid="diff-a"]').fill('2');
    await page.locator('[data-testid="diff-b"]').fill('4');
    await expect.poll(() => page.locator('[data-testid="patches"] li').count()).toBe(4);
    expect(await page.locator('[data-testid="patches"] li.patch-remove').allTextContents()).toEqual(['r4 remove /tags/0']);
    // the events table and its JSON viewer
    await page.locator('[data-testid="events"] tbody tr').nth(1).click();
    await expect.poll(() => page.locator('[data-testid="event-json"]').textContent()).toContain('"00000000-0000-7000-8000-000000000002"');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'ui-inspector.png'), fullPage: true });
  }, 120_000);

  it('the Store tab lists the views with their lag, keys with versions and the audit timeline', async () => {
    await page.getByRole('button', { name: 'Store' }).click();
    await expect.poll(() => page.locator('[data-testid="projections"] tbody tr').allTextContents()).toEqual([expect.stringMatching(/^kv\d+80/), expect.stringMatching(/^kv_versions\d+80/), expect.stringMatching(/^kv_audit\d+80/)]);
    await expect.poll(() => page.locator('[data-testid="keys"] tbody tr').allTextContents()).toEqual([expect.stringMatching(/^user:12/)]);
    await expect.poll(() => page.locator('[data-testid="audit"] li').count()).toBe(2);
    expect(await page.locator('[data-testid="audit"] li').first().textContent()).toMatch(/alice set user:1 → v1/);
  }, 60_000);
});
