/**
 * PostgresEventLog across real processes: four writers appending to shared streams with expected
 * revisions and retries while a fifth process subscribes from position 0; and a writer killed with
 * SIGKILL mid-run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { waitFor } from '../src/testing/event-log-support.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';

const WRITER = fileURLToPath(new URL('./fixtures/pg-writer.ts', import.meta.url));
const SUBSCRIBER = fileURLToPath(new URL('./fixtures/pg-subscriber.ts', import.meta.url));
const available = await requireService('PostgreSQL', postgresUrl());

interface Child {
  proc: ChildProcess;
  lines: string[];
  exit: Promise<number | null>;
}

function start(file: string, args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  const exit = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, lines, exit };
}

interface Row {
  position: number;
  stream: string;
  revision: number;
  id: string;
}

async function stored(schema: string): Promise<Row[]> {
  const c = new pg.Client({ connectionString: postgresUrl() });
  await c.connect();
  try {
    const r = await c.query(`SELECT position::float8 AS position, stream, revision, id FROM "${schema}".events ORDER BY position`);
    return r.rows as Row[];
  } finally {
    await c.end();
  }
}

function expectGapless(rows: Row[]): void {
  const byStream = new Map<string, number[]>();
  for (const r of rows) byStream.set(r.stream, [...(byStream.get(r.stream) ?? []), r.revision]);
  for (const revs of byStream.values()) expect(revs).toEqual(Array.from({ length: revs.length }, (_, i) => i + 1));
}

function delivered(sub: Child): Row[] {
  return sub.lines
    .filter((l) => l.startsWith('ev '))
    .map((l) => {
      const [, position, stream, revision, id] = l.split(' ');
      return { position: Number(position), stream: stream!, revision: Number(revision), id: id! };
    });
}

describe.skipIf(!available)('PostgresEventLog with several processes', () => {
  const schemas: string[] = [];
  const children: Child[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
  });
  afterAll(async () => {
    await dropSchemas(schemas);
  });

  test('4 writer processes x 500 appends to shared streams with expected revisions: total exact, revisions gapless, a subscriber process gets every event once in position order', async () => {
    const schema = uniqueSchema('dgm');
    schemas.push(schema);
    const sub = start(SUBSCRIBER, [postgresUrl(), schema]);
    children.push(sub);
    await waitFor(() => sub.lines.includes('subscribed'), 60_000, 'the subscriber to start');
    const writers = [0, 1, 2, 3].map((w) => start(WRITER, [postgresUrl(), schema, String(w), '500', '8', '1']));
    children.push(...writers);
    expect(await Promise.all(writers.map((w) => w.exit))).toEqual([0, 0, 0, 0]);

    const rows = await stored(schema);
    expect(rows).toHaveLength(2000);
    expectGapless(rows);
    const acks = writers.flatMap((w) => w.lines.filter((l) => l.startsWith('ack ')));
    expect(acks).toHaveLength(2000);

    await waitFor(() => delivered(sub).length >= 2000, 120_000, 'the subscriber to receive 2000 events');
    await new Promise((r) => setTimeout(r, 300)); // a duplicate delivery would show up here
    const got = delivered(sub);
    expect(got).toEqual(rows);
  });

  test('a writer killed with SIGKILL mid-run loses nothing it acknowledged and leaves no half-written append', async () => {
    const schema = uniqueSchema('dgk');
    schemas.push(schema);
    const sub = start(SUBSCRIBER, [postgresUrl(), schema]);
    children.push(sub);
    await waitFor(() => sub.lines.includes('subscribed'), 60_000, 'the subscriber to start');
    // 3 events per append, so a torn append would be visible as an incomplete group
    const victim = start(WRITER, [postgresUrl(), schema, '9', '100000', '4', '3']);
    const others = [0, 1].map((w) => start(WRITER, [postgresUrl(), schema, String(w), '200', '4', '3']));
    children.push(victim, ...others);
    await waitFor(() => victim.lines.length >= 100, 120_000, 'the victim to acknowledge 100 appends');
    victim.proc.kill('SIGKILL');
    await victim.exit;
    expect(await Promise.all(others.map((w) => w.exit))).toEqual([0, 0]);
    const acked = victim.lines.filter((l) => l.startsWith('ack ')).map((l) => l.split(' '));

    const rows = await stored(schema);
    expectGapless(rows);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [, id, stream, revision, position] of acked) {
      // the ack names the last event of the append; its first event id is printed
      const first = byId.get(id!);
      expect(first, `acknowledged ${id} is stored`).toBeDefined();
      expect(first!.stream).toBe(stream);
      expect(first!.revision).toBe(Number(revision) - 2);
      expect(first!.position).toBe(Number(position) - 2);
    }
    const groups = new Map<string, number>();
    for (const r of rows) {
      const g = r.id.slice(0, r.id.lastIndexOf('-'));
      groups.set(g, (groups.get(g) ?? 0) + 1);
    }
    for (const [g, n] of groups) expect(n, `append ${g} is whole`).toBe(3);
    expect(rows.length).toBe(groups.size * 3);
    expect(rows.length).toBeGreaterThanOrEqual((400 + acked.length) * 3);

    await waitFor(() => delivered(sub).length >= rows.length, 120_000, 'the subscriber to catch up');
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered(sub)).toEqual(rows);
  });
});
