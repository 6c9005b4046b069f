import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { z } from 'zod';
import { SQLAgent } from '../src/agents/sql-agent.js';
import { dataAgentContract } from '../src/testing/index.js';
import { ConcurrencyError, CorruptionError, InvalidKeyError, StateNotFoundError, ValidationError } from '../src/core/errors.js';

const root = mkdtempSync(join(tmpdir(), 'dgent-sql-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const dbPath = join(root, 'agents.db');
let n = 0;

dataAgentContract('SQLAgent (SQLite file)', () => {
  const id = `agent-${n++}`;
  return {
    open: () => new SQLAgent({ path: dbPath, id }),
    openTyped: (typing) => new SQLAgent({ path: dbPath, id, ...typing }),
    corrupt: () => {
      const db = new Database(dbPath);
      db.prepare('update dgent_agent_states set state = ? where agent_id = ? and version = (select max(version) from dgent_agent_states where agent_id = ?)').run('{"torn', id, id);
      db.close();
    },
  };
}, { reopen: true, requires: ['update', 'versioned', 'subscribe', 'close'] });

describe('SQLAgent on SQLite', () => {
  it('accepts a better-sqlite3 Database and a Kysely instance as db, and leaves them open on close', async () => {
    const raw = new Database(join(root, 'shared.db'));
    const a = new SQLAgent<number>({ db: raw, id: 'a' });
    await a.save(1);
    await a.close();
    const k = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
    const b = new SQLAgent<number>({ db: k, id: 'a' });
    expect(await b.load()).toBe(1);
    expect(await b.dialect()).toBe('sqlite');
    await b.close();
    expect(raw.prepare('select count(*) as c from dgent_agent_states').get()).toEqual({ c: 1 });
    raw.close();
  });

  it('a save reads only the newest version of the agent (with and without expectedVersion): the insert statement\'s bytecode steps backwards once, it never walks every version', async () => {
    // SQLite's min/max optimisation shows in the program: Last/SeekLE then Prev; an aggregate over
    // every version of the agent is a SeekGE ... AggStep Next loop (a save cost ~1 ms at 10k versions)
    const raw = new Database(join(root, 'bytecode.db'));
    const inserts: string[] = [];
    const prepare = raw.prepare.bind(raw);
    (raw as unknown as { prepare: typeof prepare }).prepare = ((text: string) => {
      if (/^\s*insert into/i.test(text)) inserts.push(text);
      return prepare(text);
    }) as typeof prepare;
    const agent = new SQLAgent<number>({ db: raw, id: 'b', retention: Infinity });
    try {
      await agent.save(1);
      await agent.save(2, { expectedVersion: 1 });
      expect(inserts.length).toBeGreaterThanOrEqual(2);
      for (const text of inserts) {
        const ops = (prepare(`EXPLAIN ${text}`).all(...Array.from({ length: text.split('?').length - 1 }, () => 1)) as { opcode: string }[]).map((r) => r.opcode).join(' ');
        expect(ops).not.toMatch(/AggStep Next/);
        expect(ops).toMatch(/AggStep Goto Prev/);
      }
    } finally {
      await agent.close();
      raw.close();
    }
  });

  it('on a better-sqlite3 Database the hot statements are prepared once and reused; a Kysely instance over the same file agrees on every result', async () => {
    const file = join(root, 'prepared.db');
    const raw = new Database(file);
    let prepares = 0;
    const prepare = raw.prepare.bind(raw);
    (raw as unknown as { prepare: typeof prepare }).prepare = ((text: string) => {
      prepares++;
      return prepare(text);
    }) as typeof prepare;
    const direct = new SQLAgent<{ n: number }>({ db: raw, id: 'p', retention: Infinity });
    const second = new Database(file);
    const viaKysely = new SQLAgent<{ n: number }>({ db: new Kysely<any>({ dialect: new SqliteDialect({ database: second }) }), id: 'p', retention: Infinity });
    try {
      await direct.save({ n: 0 });
      const before = prepares;
      for (let i = 1; i <= 50; i++) {
        await direct.save({ n: i });
        expect(await direct.load()).toEqual({ n: i });
      }
      await direct.save({ n: 51 }, { expectedVersion: 51 });
      await expect(direct.save({ n: 99 }, { expectedVersion: 51 })).rejects.toBeInstanceOf(ConcurrencyError);
      // Kysely prepares every statement it runs; the hot ones here were prepared at most once each
      expect(prepares - before).toBeLessThanOrEqual(3);
      expect(await viaKysely.load()).toEqual({ n: 51 });
      expect(await viaKysely.version()).toBe(52);
      await viaKysely.save({ n: 52 }, { expectedVersion: 52 });
      await expect(direct.save({ n: 99 }, { expectedVersion: 52 })).rejects.toBeInstanceOf(ConcurrencyError);
      expect(await direct.load()).toEqual({ n: 52 });
      expect((await direct.history(3))).toEqual([{ n: 52 }, { n: 51 }, { n: 50 }]);
    } finally {
      await direct.close();
      await viaKysely.close();
      raw.close();
      second.close();
    }
  });

  it('agents with different ids in one table do not see each other', async () => {
    const a = new SQLAgent<string>({ path: dbPath, id: 'x' });
    const b = new SQLAgent<string>({ path: dbPath, id: "x' OR '1'='1" });
    await a.save('a');
    await expect(b.load()).rejects.toBeInstanceOf(StateNotFoundError);
    await b.save('b');
    expect(await a.load()).toBe('a');
    await a.close();
    await b.close();
  });

  it('a table name that is not a plain identifier throws InvalidKeyError', () => {
    for (const table of ['x; drop table y', 'a-b', '1abc', '', 'x'.repeat(64), 'a"b']) {
      expect(() => new SQLAgent({ path: dbPath, id: 'a', table })).toThrow(InvalidKeyError);
    }
    expect(() => new SQLAgent({ path: dbPath, id: '' })).toThrow(InvalidKeyError);
    expect(() => new SQLAgent({ path: dbPath, id: 'a\0b' })).toThrow(InvalidKeyError);
  });

  it('exactly one of db, connectionString, path is required', () => {
    expect(() => new SQLAgent({ id: 'a' })).toThrow(ValidationError);
    expect(() => new SQLAgent({ id: 'a', path: dbPath, connectionString: 'postgres://x/y' })).toThrow(ValidationError);
  });

  it('save with an expectedVersion ahead of the stored version throws ConcurrencyError and inserts nothing', async () => {
    const a = new SQLAgent<number>({ path: dbPath, id: 'ahead' });
    await a.save(1);
    await expect(a.save(2, { expectedVersion: 5 })).rejects.toMatchObject({ expected: 5, actual: 1 });
    await expect(a.save(2, { expectedVersion: 5 })).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await a.history()).toEqual([1]);
    await a.close();
  });

  it('retention prunes old versions in batches; history and loadAt see exactly the newest retention versions', async () => {
    const a = new SQLAgent<number>({ path: dbPath, id: 'ret', retention: 4 });
    for (let i = 1; i <= 30; i++) await a.save(i);
    expect(await a.history()).toEqual([30, 29, 28, 27]);
    expect(await a.loadAt({ version: 27 })).toBe(27);
    await expect(a.loadAt({ version: 26 })).rejects.toBeInstanceOf(StateNotFoundError);
    const raw = new Database(dbPath);
    const { c } = raw.prepare("select count(*) as c from dgent_agent_states where agent_id = 'ret'").get() as { c: number };
    raw.close();
    expect(c).toBeLessThan(30);
    expect(c).toBeGreaterThanOrEqual(4);
    await a.close();
  });

  it('schema: invalid save throws ValidationError and keeps the state; migrations apply on read', async () => {
    const S = z.object({ name: z.string() });
    const old = new SQLAgent<{ fullName: string }>({ path: dbPath, id: 'mig' });
    await old.save({ fullName: 'Ada' });
    await old.close();
    const a = new SQLAgent<z.infer<typeof S>>({ path: dbPath, id: 'mig', schema: S, migrations: { 1: (s: { fullName: string }) => ({ name: s.fullName }) } });
    expect(await a.load()).toEqual({ name: 'Ada' });
    await expect(a.save({ name: 3 } as never)).rejects.toBeInstanceOf(ValidationError);
    expect(await a.version()).toBe(1);
    await a.close();
  });

  it('a database file in a directory that does not exist yet: the directory is created, as the logs do', async () => {
    const a = new SQLAgent({ path: join(root, 'missing-dir', 'deeper', 'x.db'), id: 'a' });
    await expect(a.load()).rejects.toBeInstanceOf(StateNotFoundError);
    await a.save({ n: 1 });
    await a.close();
    expect(existsSync(join(root, 'missing-dir', 'deeper', 'x.db'))).toBe(true);
  });

  it('a file that is not an SQLite database gives CorruptionError and is left byte for byte as it was', async () => {
    const file = join(root, 'garbage.db');
    const bytes = Buffer.from(Array.from({ length: 8192 }, (_, i) => (i * 37) % 251));
    writeFileSync(file, bytes);
    const a = new SQLAgent({ path: file, id: 'a' });
    await expect(a.load()).rejects.toBeInstanceOf(CorruptionError);
    await expect(a.save({ n: 1 })).rejects.toBeInstanceOf(CorruptionError);
    await a.close();
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it('a table of the same name but another shape gives CorruptionError on load and save, and its rows are untouched', async () => {
    const file = join(root, 'foreign.db');
    const raw = new Database(file);
    raw.exec("create table dgent_agent_states (a integer, b text); insert into dgent_agent_states values (1, 'theirs')");
    raw.close();
    const a = new SQLAgent({ path: file, id: 'a' });
    await expect(a.load()).rejects.toBeInstanceOf(CorruptionError);
    await expect(a.save({ n: 1 })).rejects.toBeInstanceOf(CorruptionError);
    await expect(a.save({ n: 1 })).rejects.toThrow(/not a dgent agent table/);
    await a.close();
    const check = new Database(file, { readonly: true });
    expect(check.prepare('select a, b from dgent_agent_states').all()).toEqual([{ a: 1, b: 'theirs' }]);
    check.close();
  });
});
