/**
 * The real `dgent` binary against a SQLite file (and a file log): golden --json outputs of every
 * reading command, export reproducing the imported JSONL byte for byte, verify catching damage,
 * and bad input getting one line on stderr with its documented exit code.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, openSync, readSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { dgent, expectGolden, expectOneLineError, FIXTURE, ROOT } from './cli-support.js';
import { openLog, SqliteEventLog } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-cli-'));
const db = join(dir, 'log.db');
const URL_ = `sqlite:${db}`;
const fixture = readFileSync(FIXTURE, 'utf8');

beforeAll(async () => {
  const r = await dgent(['import', URL_, '--json'], { input: fixture });
  expect(r.code, r.stderr).toBe(0);
  expectGolden('import', JSON.parse(r.stdout));
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function json(args: string[]): Promise<unknown> {
  const r = await dgent([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

describe('dgent reading a SQLite log (golden --json)', () => {
  it('streams lists every stream with counts and times; --prefix filters', async () => {
    expectGolden('streams', await json(['streams', URL_]));
    expect(await json(['streams', URL_, '--prefix', 'chat-'])).toEqual([expect.objectContaining({ stream: 'chat-7', events: 2 })]);
  });

  it('read <stream> --from --limit prints those events with codec-tagged data', async () => {
    expectGolden('read-agent-1', await json(['read', 'agent-1', '--url', URL_, '--from', '2', '--limit', '2']));
    expectGolden('read-chat-7', await json(['read', 'chat-7', '-u', URL_]));
  });

  it('tail -n 3 prints the last three events as NDJSON', async () => {
    const r = await dgent(['tail', URL_, '-n', '3', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expectGolden('tail', r.stdout.trim().split('\n').map((l) => JSON.parse(l)));
  });

  it('state --at a revision and --at a time fold the $state/$patch events', async () => {
    expectGolden('state-at-2', await json(['state', 'agent-1', '-u', URL_, '--at', '2']));
    expectGolden('state-latest', await json(['state', 'agent-1', '-u', URL_]));
    // 10:05 on Jan 2 lies between revision 3 (10:03) and 4 (10:06)
    expect(await json(['state', 'agent-1', '-u', URL_, '--at', '2026-01-02T10:05:00Z'])).toMatchObject({ revision: 3, state: { n: 3 } });
  });

  it('get, history and audit read the Store views', async () => {
    expectGolden('get', await json(['get', 'user:1', '-u', URL_]));
    expect(await json(['get', 'user:1', '-u', URL_, '--at', '1'])).toMatchObject({ version: 1, value: { name: 'Ada' } });
    expectGolden('history', await json(['history', 'user:1', '-u', URL_]));
    expectGolden('audit', await json(['audit', URL_, '--key', 'user:1']));
    expect(await json(['audit', URL_, '--actor', 'bob'])).toHaveLength(1);
  });

  it('stats counts events, streams and types; verify says intact', async () => {
    const s = (await json(['stats', URL_])) as Record<string, unknown>;
    expectGolden('stats', { ...s, bytes: typeof s.bytes, eventsLastMinute: typeof s.eventsLastMinute });
    expectGolden('verify', await json(['verify', URL_, '--views']));
  });

  it('export reproduces the imported JSONL byte for byte; nothing but data goes to a pipe (no colour, no progress)', async () => {
    const r = await dgent(['export', URL_]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(fixture);
    expect(r.stderr).toBe('');
    const t = await dgent(['streams', URL_]);
    expect(t.stdout).not.toMatch(/\x1b\[/);
    expect(t.stdout).toMatch(/^STREAM\s+EVENTS/);
  });

  it('import of the same JSONL again writes nothing (resumable); import into a file log and back keeps everything', async () => {
    expect(await json(['import', URL_, '-i', FIXTURE])).toEqual({ read: 8, written: 0 });
    const file = `file:${join(dir, 'flog')}`;
    expect(await json(['import', file, '-i', FIXTURE])).toEqual({ read: 8, written: 8 });
    expect((await dgent(['export', file])).stdout).toBe(fixture);
  });
});

describe('dgent working on a SQLite log', () => {
  it('tail --follow prints an event appended by another process, and ends on SIGINT with exit 0', async () => {
    const path = join(dir, 'follow.db');
    const log = await openLog(`sqlite:${path}`);
    await log.append('s', [{ type: 'Before', data: 0 }]);
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'tail', `sqlite:${path}`, '--follow', '--json', '-n', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const lines = (n: number) =>
      new Promise<string[]>((resolve) => {
        const check = (): void => {
          const got = out.split('\n').filter(Boolean);
          if (got.length >= n) resolve(got);
        };
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          check();
        });
        check();
      });
    expect(JSON.parse((await lines(1))[0]!)).toMatchObject({ stream: 's', revision: 1, type: 'Before' });
    await log.append('s', [{ type: 'Live', data: { n: 1 } }]);
    expect(JSON.parse((await lines(2))[1]!)).toMatchObject({ stream: 's', revision: 2, type: 'Live', data: { n: 1 } });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    await log.close();
  }, 60_000);

  it('rebuild-snapshots stores fresh snapshots of a StreamAgent stream', async () => {
    const snaps = join(dir, 'snapshots.db');
    expect(await json(['rebuild-snapshots', 'agent-1', '-u', URL_, '--snapshots', `sqlite:${snaps}`, '--every', '2'])).toEqual({ stream: 'agent-1', revision: 4, snapshots: 2 });
    // a stream shorter than --every gets none, and the line says why
    const r = await dgent(['rebuild-snapshots', 'agent-1', '-u', URL_, '--snapshots', `sqlite:${snaps}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('rebuilt 0 snapshots of agent-1 up to revision 4 (one every 100 events: --every to change it)');
  });

  it('rebuild <view> and rebuild all fold the Store views again from the log (through Store.rebuildViews)', async () => {
    // a log of its own: a rebuild adds view generations the verify tests below do not expect
    const own = `sqlite:${join(dir, 'rebuild.db')}`;
    expect((await dgent(['import', own], { input: fixture })).code).toBe(0);
    expect(await json(['rebuild', 'kv_audit', own])).toEqual([{ name: 'kv_audit', events: 8 }]);
    expect(await json(['rebuild', 'all', own])).toEqual([
      { name: 'kv', events: 8 },
      { name: 'kv_versions', events: 8 },
      { name: 'kv_audit', events: 8 },
      { name: 'kv_relations', events: 8 },
    ]);
    expectGolden('get', await json(['get', 'user:1', '-u', own]));
  });

  it('stats --views reports each view caught up (lag 0)', async () => {
    const s = (await json(['stats', URL_, '--views'])) as { views: { name: string; lagEvents: number; position: number }[] };
    expect(s.views.map((v) => [v.name, v.lagEvents, v.position])).toEqual([
      ['kv', 0, 8],
      ['kv_versions', 0, 8],
      ['kv_audit', 0, 8],
      ['kv_relations', 0, 8],
    ]);
  });

  it.skipIf(spawnSync('script', ['--version']).status !== 0)('a terminal gets colours and a progress bar (script gives the command a pty); NO_COLOR turns colours off', () => {
    const cmd = `"${process.execPath}" --import tsx src/cli/main.ts streams ${URL_}`;
    const tty = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined } });
    expect(tty.stdout).toMatch(/\x1b\[1mSTREAM/);
    const plain = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(plain.stdout).not.toMatch(/\x1b\[/);
    // and a progress bar with the count (on stderr, which script merges into its output)
    const progress = spawnSync('script', ['-qec', `"${process.execPath}" --import tsx src/cli/main.ts export ${URL_} -o ${join(dir, 'tty-export.jsonl')}`, '/dev/null'], { cwd: ROOT, encoding: 'utf8' });
    expect(progress.stdout).toMatch(/100% \| 8\/8 events/);
    expect(readFileSync(join(dir, 'tty-export.jsonl'), 'utf8')).toBe(fixture);
  }, 60_000);
});

describe('dgent verify finds damage', () => {
  function copyLog(name: string): string {
    const path = join(dir, `${name}.db`);
    const src = new Database(db, { readonly: true });
    src.exec(`VACUUM INTO '${path.replaceAll("'", "''")}'`);
    src.close();
    return path;
  }

  it('a deleted row: exit 5, the revision gap and the position gap named', async () => {
    const path = copyLog('deleted');
    const d = new Database(path);
    d.prepare(`DELETE FROM dgent_events WHERE stream = 'agent-1' AND revision = 2`).run();
    d.close();
    const r = await dgent(['verify', `sqlite:${path}`, '--json']);
    expect(r.code).toBe(5);
    const report = JSON.parse(r.stdout) as { ok: boolean; problems: { kind: string; message: string }[] };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind).sort()).toEqual(['position', 'revision']);
    expect(report.problems.find((p) => p.kind === 'revision')?.message).toBe('stream "agent-1" goes from revision 1 to 3');
  });

  it('a flipped byte in a file log segment: exit 5, unreadable (checksum)', async () => {
    const fdir = join(dir, 'flipped');
    expect((await dgent(['import', `file:${fdir}`, '-i', FIXTURE])).code).toBe(0);
    const seg = readdirSync(fdir).find((f) => /seg|\.log$/.test(f) && statSync(join(fdir, f)).size > 0)!;
    const path = join(fdir, seg);
    const fd = openSync(path, 'r+');
    const at = Math.floor(statSync(path).size / 2);
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x20;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    const r = await dgent(['verify', `file:${fdir}`]);
    expect(r.code, r.stdout + r.stderr).toBe(5);
    expect(r.stdout + r.stderr).toMatch(/checksum|corrupt|damaged/i);
  });

  it('a view edited behind the log: verify --views exits 5 naming the key; verify without --views still passes', async () => {
    const path = copyLog('edited-view');
    // the views exist once a Store has opened the log (earlier tests did on the original; run alone, none has)
    expect((await dgent(['get', 'user:1', '-u', `sqlite:${path}`])).code).toBe(0);
    const d = new Database(path);
    const tables = d.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%kv%' AND name NOT LIKE '%version%' AND name NOT LIKE '%audit%'`).pluck().all() as string[];
    const kv = tables.find((t) => (d.prepare(`SELECT count(*) FROM "${t}"`).pluck().get() as number) > 0 && d.prepare(`PRAGMA table_info("${t}")`).all().some((c) => (c as { name: string }).name === 'value'))!;
    expect(kv).toBeDefined();
    d.prepare(`UPDATE "${kv}" SET value = ?`).run(JSON.stringify({ name: 'Mallory' }));
    d.close();
    const r = await dgent(['verify', `sqlite:${path}`, '--views', '--json']);
    expect(r.code, r.stderr).toBe(5);
    const report = JSON.parse(r.stdout) as { problems: { kind: string; message: string }[] };
    expect(report.problems.map((p) => p.kind)).toEqual(['view']);
    expect(report.problems[0]!.message).toMatch(/^view kv: default\/user:1 differs/);
    const text = await dgent(['verify', `sqlite:${path}`, '--views']);
    expect(text.stdout).toMatch(/^ {2}views: 1 difference from a fresh fold of the log \(\d+ live keys?, \d+ versions?, \d+ audit rows?, \d+ namespaces?\)$/m);
    expect((await dgent(['verify', `sqlite:${path}`])).code).toBe(0);
  });

  it('verify --views says what it compared: the rows of each view, or that the log holds no keyed events', async () => {
    const path = copyLog('views-compared');
    expect((await dgent(['get', 'user:1', '-u', `sqlite:${path}`])).code).toBe(0);
    const r = await dgent(['verify', `sqlite:${path}`, '--views']);
    expect(r.code, r.stderr).toBe(0);
    const report = (await json(['verify', `sqlite:${path}`, '--views'])) as { views: { events: number; keys: number; versions: number; audit: number; namespaces: number } };
    const { events, keys, versions, audit, namespaces } = report.views;
    expect(keys).toBeGreaterThan(0);
    expect(events).toBe(audit); // one audit row per keyed event, none purged here
    const n = (x: number, what: string) => `${x} ${what}${x === 1 ? '' : 's'}`;
    expect(r.stdout).toContain(`  views equal a fresh fold of the log's ${n(events, 'keyed event')}: ${n(keys, 'live key')}, ${n(versions, 'version')}, ${n(audit, 'audit row')}, ${n(namespaces, 'namespace')}`);
    // a log of an agent's own events: nothing for the Store's views
    const plain = join(mkdtempSync(join(tmpdir(), 'dgent-cli-plain-')), 'plain.db');
    const log = new SqliteEventLog({ path: plain });
    await log.append('agent-1', [{ type: 'Saved', data: { n: 1 } }]);
    await log.close();
    const p = await dgent(['verify', `sqlite:${plain}`, '--views']);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/intact: 1 event in 1 stream\n {2}views: nothing to compare \(the log holds no keyed events/);
  });
});

describe('dgent with bad input: one line on stderr, a documented exit code', () => {
  it.each([
    [['frobnicate'], 2, /unknown command 'frobnicate'/],
    [['streams', 'mysql://h/db'], 2, /unknown scheme "mysql:"/],
    [['streams', 'postgres://h:99999/db'], 2, /port "99999"/],
    [['read', 'x'], 2, /set DGENT_LOG_URL or DGENT_URL/],
    [['read', 'nope', '-u', 'sqlite:DB'], 3, /stream "nope" not found/],
    [['read', 'agent-1', '-u', 'sqlite:DB', '--limit', 'lots'], 2, /--limit must be an integer/],
    [['state', 'agent-1', '-u', 'sqlite:DB', '--at', 'yesterday-ish'], 2, /--at takes a revision/],
    [['state', 'agent-1', '-u', 'sqlite:DB', '--at', '99'], 3, /beyond its head/],
    [['get', 'nobody', '-u', 'sqlite:DB'], 3, /key "nobody" not found/],
    [['rebuild', 'nope', 'sqlite:DB'], 3, /unknown projection "nope"/],
    [['streams', 'postgres://postgres@127.0.0.1:1/test'], 4, /PostgreSQL unavailable/],
    [['streams', 'redis://127.0.0.1:1'], 4, /unavailable/i],
  ] as [string[], number, RegExp][])('dgent %j exits %i', async (args, code, pattern) => {
    const r = await dgent(args.map((a) => a.replace('sqlite:DB', URL_)));
    expectOneLineError(r, code, pattern);
  });

  it('a DGENT_URL with a bad part names the variable', async () => {
    const r = await dgent(['streams'], { env: { DGENT_URL: 'redis://h:port' } });
    expectOneLineError(r, 2, /^dgent: DGENT_URL: .*port "port"/);
  });

  it('import of a malformed line names the line, and nothing after it is written', async () => {
    const target = `sqlite:${join(dir, 'bad-import.db')}`;
    const lines = fixture.trimEnd().split('\n');
    const r = await dgent(['import', target, '--batch-size', '1'], { input: [lines[0], lines[1], '{"id": 3', lines[2]].join('\n') });
    expectOneLineError(r, 2, /line 3: not JSON/);
    expect((await dgent(['export', target])).stdout).toBe(lines.slice(0, 2).join('\n') + '\n');
  });

  it('import into a log that holds other events at those revisions is a conflict (exit 6)', async () => {
    const other = fixture.replaceAll('00000000-0000-7000-8000-', '11111111-0000-7000-8000-');
    const r = await dgent(['import', URL_], { input: other });
    expectOneLineError(r, 6, /concurrency conflict/);
  });
});
