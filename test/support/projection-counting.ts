/**
 * A counting projection for runner tests, on all four storages: it records how many times each
 * log position was applied (`times`, so a duplicate shows as 2, a skip as a missing row) and the
 * running sum of `data.n`. `failOn`: a value of `data.n` that makes apply throw.
 */
import { defineProjection, MemoryViewStorage, SqliteViewStorage, type EventLog, type Projection, type RecordedEvent, type ViewContext, type ViewStorage } from '../../src/index.js';
import { PostgresViewStorage } from '../../src/postgres.js';
import { RedisViewStorage } from '../../src/redis.js';

export interface CountingOptions {
  name?: string;
  version?: number;
  handles?: readonly string[] | '*';
  /** apply throws on an event whose data.n equals this */
  failOn?: number;
  /** stored with every applied position on SQLite/PostgreSQL (who applied it: the lease tests) */
  tag?: string;
}

/** What a counting view holds. */
export interface CountingView {
  /** position -> times applied */
  times: Map<number, number>;
  sum: number;
}

function nOf(e: RecordedEvent): number {
  return Number((e.data as { n?: unknown }).n ?? 0);
}

export function countingProjection(o: CountingOptions = {}): Projection {
  const check = (events: readonly RecordedEvent[]): void => {
    for (const e of events) if (o.failOn !== undefined && nOf(e) === o.failOn) throw new Error(`counting: refusing n=${o.failOn} at ${e.position}`);
  };
  return defineProjection<ViewContext>({
    name: o.name ?? 'counting',
    version: o.version ?? 1,
    handles: o.handles ?? ['Added'],
    setup(ctx) {
      if (ctx.storage === 'sqlite') ctx.db.exec(`CREATE TABLE IF NOT EXISTS ${ctx.table('applied')} (position INTEGER PRIMARY KEY, times INTEGER NOT NULL, n INTEGER NOT NULL, tag TEXT)`);
      if (ctx.storage === 'postgres') return ctx.query(`CREATE TABLE IF NOT EXISTS ${ctx.table('applied')} (position bigint PRIMARY KEY, times integer NOT NULL, n bigint NOT NULL, tag text)`).then(() => undefined);
    },
    async apply(events, ctx) {
      check(events);
      switch (ctx.storage) {
        case 'memory': {
          const m = ctx.map<number, { times: number; n: number }>('applied');
          for (const e of events) m.set(e.position, Object.freeze({ times: (m.get(e.position)?.times ?? 0) + 1, n: nOf(e) }));
          return;
        }
        case 'sqlite': {
          const st = ctx.db.prepare(`INSERT INTO ${ctx.table('applied')} (position, times, n, tag) VALUES (?, 1, ?, ?) ON CONFLICT(position) DO UPDATE SET times = times + 1`);
          for (const e of events) st.run(e.position, nOf(e), o.tag ?? null);
          return;
        }
        case 'postgres': {
          await ctx.query(
            `INSERT INTO ${ctx.table('applied')} (position, times, n, tag) SELECT p, 1, n, $3 FROM unnest($1::bigint[], $2::bigint[]) AS t(p, n) ON CONFLICT (position) DO UPDATE SET times = ${ctx.table('applied')}.times + 1`,
            [events.map((e) => e.position), events.map(nOf), o.tag ?? null],
          );
          return;
        }
        case 'redis': {
          for (const e of events) ctx.call('HINCRBY', ctx.key('applied'), String(e.position), 1);
          for (const e of events) ctx.call('HSET', ctx.key('n'), String(e.position), nOf(e));
          if (o.tag !== undefined) for (const e of events) ctx.call('HSET', ctx.key('tag'), String(e.position), o.tag);
          return;
        }
      }
    },
  });
}

/** Read a counting view from any storage's active generation. */
export async function readCounting(storage: ViewStorage, name: string): Promise<CountingView> {
  const times = new Map<number, number>();
  let sum = 0;
  if (storage instanceof MemoryViewStorage) {
    for (const [p, v] of storage.map<number, { times: number; n: number }>(name, 'applied') ?? []) {
      times.set(p, v.times);
      sum += v.n;
    }
  } else if (storage instanceof SqliteViewStorage) {
    const t = await storage.table(name, 'applied');
    if (t) for (const r of storage.db.prepare(`SELECT position, times, n FROM ${t}`).all() as { position: number; times: number; n: number }[]) {
      times.set(r.position, r.times);
      sum += r.n;
    }
  } else if (storage instanceof PostgresViewStorage) {
    const t = await storage.table(name, 'applied');
    if (t) for (const r of (await storage.query(`SELECT position, times, n FROM ${t}`)).rows) {
      times.set(Number(r.position), r.times);
      sum += Number(r.n);
    }
  } else if (storage instanceof RedisViewStorage) {
    const k = await storage.key(name, 'applied');
    const kn = await storage.key(name, 'n');
    if (k && kn) {
      for (const [p, v] of Object.entries(await storage.redis.hgetall(k))) times.set(Number(p), Number(v));
      for (const v of Object.values(await storage.redis.hgetall(kn))) sum += Number(v);
    }
  } else throw new Error('unknown storage');
  return { times, sum };
}

/** The model: positions of the handled events and their sum, read from the log. */
export async function foldLog(log: EventLog, handles: readonly string[] = ['Added']): Promise<{ positions: number[]; sum: number }> {
  const positions: number[] = [];
  let sum = 0;
  for await (const e of log.readAll()) {
    if (!handles.includes(e.type)) continue;
    positions.push(e.position);
    sum += nOf(e);
  }
  return { positions, sum };
}

/** Assert-friendly summary: every handled position applied exactly once, and the sum. */
export function summary(v: CountingView): { positions: number[]; sum: number; duplicates: number[] } {
  const positions = [...v.times.keys()].sort((a, b) => a - b);
  return { positions, sum: v.sum, duplicates: positions.filter((p) => v.times.get(p) !== 1) };
}
