/**
 * The real `dgent` binary against the local PostgreSQL: the fixture imported into a fresh schema
 * reads back with the same golden --json outputs as from SQLite (same ids, revisions, positions,
 * times), the Store commands read the views in that schema, and verify catches a deleted row.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dgent, expectGolden, FIXTURE } from './cli-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const schema = uniqueSchema('dgt_cli');
const URL_ = `${postgresUrl()}?schema=${schema}`;
const fixture = readFileSync(FIXTURE, 'utf8');
let up = false;

beforeAll(async () => {
  up = await requireService('PostgreSQL', postgresUrl());
  if (!up) return;
  const r = await dgent(['import', URL_, '--json'], { input: fixture });
  expect(r.code, r.stderr).toBe(0);
  expectGolden('import', JSON.parse(r.stdout));
}, 120_000);
afterAll(() => dropSchemas([schema]));

async function json(args: string[]): Promise<unknown> {
  const r = await dgent([...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('dgent on PostgreSQL (the same golden --json as SQLite)', () => {
  it('streams, read, tail, state', async () => {
    if (!up) return;
    expectGolden('streams', await json(['streams', URL_]));
    expectGolden('read-agent-1', await json(['read', 'agent-1', '-u', URL_, '--from', '2', '--limit', '2']));
    expectGolden('read-chat-7', await json(['read', 'chat-7', '-u', URL_]));
    const t = await dgent(['tail', URL_, '-n', '3', '--json']);
    expectGolden('tail', t.stdout.trim().split('\n').map((l) => JSON.parse(l)));
    expectGolden('state-at-2', await json(['state', 'agent-1', '-u', URL_, '--at', '2']));
  }, 120_000);

  it('get, history, audit read the views in the schema; verify --views is intact; export gives the fixture back', async () => {
    if (!up) return;
    expectGolden('get', await json(['get', 'user:1', '-u', URL_]));
    expectGolden('history', await json(['history', 'user:1', '-u', URL_]));
    expectGolden('audit', await json(['audit', URL_, '--key', 'user:1']));
    expectGolden('verify', await json(['verify', URL_, '--views']));
    expect((await dgent(['export', URL_])).stdout).toBe(fixture);
  }, 120_000);

  it('verify finds a row deleted from the events table (exit 5, the revision gap named)', async () => {
    if (!up) return;
    const c = new pg.Client({ connectionString: postgresUrl() });
    await c.connect();
    try {
      await c.query(`DELETE FROM "${schema}".events WHERE stream = 'chat-7' AND revision = 1`);
    } finally {
      await c.end();
    }
    const r = await dgent(['verify', URL_, '--json']);
    expect(r.code).toBe(5);
    const report = JSON.parse(r.stdout) as { problems: { kind: string; message: string }[] };
    // PostgreSQL positions may have gaps (rolled-back sequence values): only the revision gap is a problem
    expect(report.problems).toEqual([expect.objectContaining({ kind: 'revision', message: 'stream "chat-7" goes from revision 0 to 2' })]);
  }, 120_000);
});
