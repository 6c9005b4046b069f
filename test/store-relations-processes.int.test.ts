/**
 * Relation changes across processes: a subscription in this process hears the relate (made in a
 * transaction) and the unrelate of a child process, with the relation, on one SQLite file and on
 * one PostgreSQL schema; the relations view here has the child's relation history.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteEventLog, Store, type EventLog, type StoreChange } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { dropSchemas, postgresUrl, uniqueSchema } from './support/postgres.js';
import { requireService } from './support/services.js';
import { until } from './store-relations-tx-support.js';

const CHILD = fileURLToPath(new URL('./store-relations-child.ts', import.meta.url));

function child(args: Record<string, unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
    p.on('close', (code) => {
      const m = /done (\d+)/.exec(out);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`child exited with ${code}\n${out}\n${err}`));
    });
  });
}

const pgUp = await requireService('PostgreSQL', postgresUrl());
const dirs: string[] = [];
const schemas: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await dropSchemas(schemas);
});

const places: { name: string; skip: boolean; place(): { args: Record<string, unknown>; log(): EventLog } }[] = [
  {
    name: 'SQLite (one file)',
    skip: false,
    place: () => {
      const dir = mkdtempSync(join(tmpdir(), 'dgent-rel-proc-'));
      dirs.push(dir);
      const path = join(dir, 'store.db');
      return { args: { backend: 'sqlite', path }, log: () => new SqliteEventLog({ path }) };
    },
  },
  {
    name: 'PostgreSQL (one schema)',
    skip: !pgUp,
    place: () => {
      const schema = uniqueSchema('relproc');
      schemas.push(schema);
      return { args: { backend: 'postgres', url: postgresUrl(), schema }, log: () => new PostgresEventLog({ connectionString: postgresUrl(), schema }) };
    },
  },
];

describe.each(places)('relation changes across processes on $name', (p) => {
  it.skipIf(p.skip)('subscribe hears the relate (in a transaction, after its key write) and the unrelate of another process, with the relation', async () => {
    const place = p.place();
    const log = place.log();
    const store = new Store({ log, sweepIntervalMs: 0 });
    try {
      await store.set('a', 1);
      await store.set('b', 1);
      const seen: StoreChange[] = [];
      const off = store.subscribe({}, (c) => void seen.push(c));
      await off.ready;
      const pid = await child(place.args);
      await until(() => seen.length >= 3, 'the changes of the child', 12_000);
      const rel = { subject: { namespace: 'default', key: 'a' }, predicate: 'p', object: { namespace: 'default', key: 'b' } };
      expect(seen.map((c) => [c.type, c.key, c.actor])).toEqual([
        ['kv.set', 'c', `pid${pid}`],
        ['kv.relation.added', 'a', `pid${pid}`],
        ['kv.relation.removed', 'a', `pid${pid}`],
      ]);
      expect(seen[1]!.relation).toEqual({ ...rel, related: true });
      expect(seen[2]!.relation).toEqual({ ...rel, related: false });
      expect((await store.relationHistory('a', 'p', 'b')).map((h) => [h.operation, h.version])).toEqual([['unrelate', 2], ['relate', 1]]);
      await off();
    } finally {
      await store.close();
      await log.close();
    }
  }, 120_000);
});
