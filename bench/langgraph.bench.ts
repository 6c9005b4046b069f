/**
 * The LangGraph growth experiment: a real graph (START -> agent -> END, a deterministic fake chat
 * model, one user and one AI message per turn) run for 400 turns on one thread with each saver:
 * - DgentSaver on SQLite and PostgreSQL (plain messages reducer: no opt-in),
 * - @langchain/langgraph-checkpoint-sqlite's SqliteSaver and -postgres's PostgresSaver,
 * - the same two with LangGraph's DeltaChannel (MessagesDeltaValue), the upstream answer.
 * At turns 50, 100, 200 and 400: bytes stored (SQLite: live pages of the file; PostgreSQL: total
 * relation size of the saver's tables) against the bytes of the messages (their serialised value),
 * and turns/s (1 / the median duration of the last 20 turns). At turn 400, once every saver has
 * run: getTuple and list({ limit: 10 }) latency (p50/p99, hdr-histogram-js; and the median CPU time
 * of this process per call) on a fresh instance of each saver, in rounds rotating through the
 * savers, DgentSaver with its value cache off (see `latencies`).
 * Targets: storage <= 3x message bytes (DgentSaver, SQLite and PostgreSQL); turns/s at 400 >= 0.8x
 * at 50; getTuple at 400 >= 1x SqliteSaver's and PostgresSaver's (throughput, from p50).
 *
 * Env: BENCH_LG_TURNS (default 400), BENCH_LG_RUNS (default 1; medians when more), BENCH_LG_ONLY (a regexp of saver names),
 * BENCH_LG_SAMPLES (latency samples, default 30), BENCH_LG_OUT (the JSON written, default bench/results/langgraph.json; it keeps every run under
 * `perRun`), BENCH_LG_MERGE (comma-separated JSON files of earlier runs, e.g. runs made side by
 * side: no run, their runs' medians are written), DGENT_POSTGRES_URL.
 */
import Database from 'better-sqlite3';
import * as hdr from 'hdr-histogram-js';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import type { BaseCheckpointSaver } from '@langchain/langgraph-checkpoint';
import { SqliteEventLog } from '../src/index.js';
import { PostgresEventLog } from '../src/postgres.js';
import { DgentSaver } from '../src/langgraph.js';
import { chatGraph, userMessage } from '../test/support/langgraph-graph.js';

const POSTGRES_URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TURNS = Number(process.env.BENCH_LG_TURNS ?? 400);
const RUNS = Number(process.env.BENCH_LG_RUNS ?? 1);
const MARKS = [50, 100, 200, 400].filter((m) => m <= TURNS);
const WINDOW = 20;
/** latency samples per measure (BENCH_LG_SAMPLES, default 30) */
const SAMPLES = Number(process.env.BENCH_LG_SAMPLES ?? 30);

interface Subject {
  name: string;
  backend: 'sqlite' | 'postgres';
  delta: boolean;
  /** a new saver on the same storage; `cold`: DgentSaver without its in-memory value cache */
  open(cold?: boolean): Promise<BaseCheckpointSaver & { close?: () => Promise<void>; end?: () => Promise<void> }>;
  bytes(): Promise<number>;
  cleanup(): Promise<void>;
}

interface Mark {
  turn: number;
  bytes: number;
  messageBytes: number;
  ratio: number;
  turnsPerSec: number;
}

interface RunResult {
  subject: string;
  marks: Mark[];
  getTuple: { p50Ms: number; p99Ms: number; cpuP50Ms?: number };
  list: { p50Ms: number; p99Ms: number; cpuP50Ms?: number };
}

async function closeSaver(s: { close?: () => Promise<void>; end?: () => Promise<void> }): Promise<void> {
  if (s instanceof DgentSaver) await s.close();
  else if (s instanceof PostgresSaver) await s.end();
  else if (s instanceof SqliteSaver) (s as unknown as { db: Database.Database }).db.close();
}

function sqliteLiveBytes(path: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    return (pages - free) * pageSize;
  } finally {
    db.close();
  }
}

async function pgSchemaBytes(schema: string): Promise<number> {
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    const r = await c.query(
      `SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)), 0)::bigint AS b FROM pg_tables WHERE schemaname = $1`,
      [schema],
    );
    return Number(r.rows[0].b);
  } finally {
    await c.end();
  }
}

async function pgExec(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: POSTGRES_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function subjects(run: number): Subject[] {
  const out: Subject[] = [];
  const tag = `${Date.now().toString(36)}_${run}`;
  for (const delta of [false, true]) {
    const suffix = delta ? ' + DeltaChannel' : '';
    {
      const dir = mkdtempSync(join(tmpdir(), 'dgent-bench-lg-'));
      const path = join(dir, 'dgent.db');
      out.push({
        name: `DgentSaver (SQLite)${suffix}`,
        backend: 'sqlite',
        delta,
        open: async (cold) => new DgentSaver({ log: new SqliteEventLog({ path }), valueCacheSize: cold ? 0 : undefined }),
        bytes: async () => sqliteLiveBytes(path),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      });
    }
    {
      const dir = mkdtempSync(join(tmpdir(), 'dgent-bench-lg-'));
      const path = join(dir, 'sqlitesaver.db');
      out.push({
        name: `SqliteSaver${suffix}`,
        backend: 'sqlite',
        delta,
        open: async () => SqliteSaver.fromConnString(path),
        bytes: async () => sqliteLiveBytes(path),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      });
    }
    {
      const schema = `bench_lg_dgent_${tag}_${delta ? 'd' : 'p'}`;
      out.push({
        name: `DgentSaver (PostgreSQL)${suffix}`,
        backend: 'postgres',
        delta,
        open: async (cold) => new DgentSaver({ log: new PostgresEventLog({ connectionString: POSTGRES_URL, schema }), valueCacheSize: cold ? 0 : undefined }),
        bytes: () => pgSchemaBytes(schema),
        cleanup: () => pgExec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
      });
    }
    {
      const schema = `bench_lg_pgsaver_${tag}_${delta ? 'd' : 'p'}`;
      out.push({
        name: `PostgresSaver${suffix}`,
        backend: 'postgres',
        delta,
        open: async () => {
          await pgExec(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
          const s = PostgresSaver.fromConnString(POSTGRES_URL, { schema });
          await s.setup();
          return s;
        },
        bytes: () => pgSchemaBytes(schema),
        cleanup: () => pgExec(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
      });
    }
  }
  const only = process.env.BENCH_LG_ONLY;
  if (!only) return out;
  const kept = out.filter((s) => new RegExp(only).test(s.name));
  // the others' temporary directories were made already
  for (const s of out) if (!kept.includes(s) && s.backend === 'sqlite') void s.cleanup();
  return kept;
}

type Measured = { p50Ms: number; p99Ms: number; cpuP50Ms: number };

/**
 * Latency of `fn` on every subject, in rounds that rotate through the subjects (interleaved: a
 * burst of load from other work hits them alike), each on a fresh saver instance; DgentSaver
 * without its value cache: every call deserialises the whole conversation through the serde, as
 * the other savers do (its thread index, ids and references, and the JSON text of the
 * conversation stay in memory, as SQLite's page cache holds SqliteSaver's blob). Also the median
 * CPU time of this process per call (the database server's not counted).
 */
async function latencies(subjects: Subject[], fn: (s: BaseCheckpointSaver) => Promise<unknown>, samples = SAMPLES): Promise<Map<string, Measured>> {
  const savers = await Promise.all(subjects.map((s) => s.open(true)));
  const wall = subjects.map(() => hdr.build({ numberOfSignificantValueDigits: 3 }));
  const cpu: number[][] = subjects.map(() => []);
  try {
    for (const saver of savers) await fn(saver); // connect / first read
    for (let i = 0; i < samples; i += 1) {
      for (let k = 0; k < savers.length; k += 1) {
        const j = (i + k) % savers.length;
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        await fn(savers[j]!);
        wall[j]!.recordValue(Number(process.hrtime.bigint() - t0) / 1000); // µs
        const c = process.cpuUsage(c0);
        cpu[j]!.push((c.user + c.system) / 1000);
      }
    }
  } finally {
    for (const saver of savers) await closeSaver(saver);
  }
  const out = new Map<string, Measured>();
  subjects.forEach((s, j) => {
    out.set(s.name, { p50Ms: wall[j]!.getValueAtPercentile(50) / 1000, p99Ms: wall[j]!.getValueAtPercentile(99) / 1000, cpuP50Ms: median(cpu[j]!) });
    wall[j]!.destroy();
  });
  return out;
}

async function runSubject(subject: Subject): Promise<Omit<RunResult, 'getTuple' | 'list'>> {
  const saver = await subject.open();
  const graph = chatGraph(saver, { delta: subject.delta });
  const thread = { configurable: { thread_id: 'bench-thread' } };
  const marks: Mark[] = [];
  const durations: number[] = [];
  try {
    for (let turn = 1; turn <= TURNS; turn += 1) {
      const t0 = process.hrtime.bigint();
      await graph.invoke({ messages: [userMessage(turn)] }, thread);
      durations.push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (MARKS.includes(turn)) {
        // the median turn of the last WINDOW: robust to another process's burst on a shared machine
        const seconds = median(durations.slice(-WINDOW));
        const state = await graph.getState(thread);
        const [, bytes] = await saver.serde.dumpsTyped(state.values.messages);
        const stored = await subject.bytes();
        marks.push({ turn, bytes: stored, messageBytes: bytes.byteLength, ratio: stored / bytes.byteLength, turnsPerSec: 1 / seconds });
        if (state.values.messages.length !== 2 * turn) throw new Error(`${subject.name}: ${state.values.messages.length} messages after ${turn} turns`);
      }
    }
  } finally {
    await closeSaver(saver);
  }
  return { subject: subject.name, marks };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function main(): Promise<void> {
  const all: RunResult[][] = [];
  const merge = process.env.BENCH_LG_MERGE;
  if (merge) for (const f of merge.split(',')) all.push(...(JSON.parse(readFileSync(f.trim(), 'utf8')) as { perRun: RunResult[][] }).perRun);
  for (let run = 0; !merge && run < RUNS; run += 1) {
    const list = subjects(run);
    try {
      const grown: Omit<RunResult, 'getTuple' | 'list'>[] = [];
      for (const subject of list) {
        grown.push(await runSubject(subject));
        console.error(`run ${run + 1}/${RUNS}: ${subject.name} done`);
      }
      // at turn TURNS, every saver side by side (rotating rounds)
      const thread = { configurable: { thread_id: 'bench-thread' } };
      const getTuple = await latencies(list, (s) => s.getTuple(thread));
      const listed = await latencies(list, async (s) => {
        for await (const _ of s.list(thread, { limit: 10 })) void _;
      });
      all.push(grown.map((g) => ({ ...g, getTuple: getTuple.get(g.subject)!, list: listed.get(g.subject)! })));
    } finally {
      for (const subject of list) await subject.cleanup();
    }
  }
  // medians over runs, per subject and mark
  const merged: RunResult[] = all[0]!.map((r, i) => ({
    subject: r.subject,
    marks: r.marks.map((m, j) => {
      const ms = all.map((run) => run[i]!.marks[j]!);
      return { turn: m.turn, bytes: median(ms.map((x) => x.bytes)), messageBytes: m.messageBytes, ratio: median(ms.map((x) => x.ratio)), turnsPerSec: median(ms.map((x) => x.turnsPerSec)) };
    }),
    getTuple: { p50Ms: median(all.map((run) => run[i]!.getTuple.p50Ms)), p99Ms: median(all.map((run) => run[i]!.getTuple.p99Ms)), cpuP50Ms: median(all.map((run) => run[i]!.getTuple.cpuP50Ms ?? NaN)) },
    list: { p50Ms: median(all.map((run) => run[i]!.list.p50Ms)), p99Ms: median(all.map((run) => run[i]!.list.p99Ms)), cpuP50Ms: median(all.map((run) => run[i]!.list.cpuP50Ms ?? NaN)) },
  }));

  const fmtB = (b: number): string => (b >= 1e6 ? `${(b / 1e6).toFixed(2)} MB` : `${(b / 1e3).toFixed(1)} KB`);
  console.log(`\n## langgraph  (${TURNS} turns, median of ${all.length} run(s), node ${process.version})\n`);
  console.log(`| saver | ${MARKS.map((m) => `bytes @${m} (× msgs)`).join(' | ')} | ${MARKS.map((m) => `turns/s @${m}`).join(' | ')} | getTuple p50/p99 ms (CPU p50) | list(10) p50/p99 ms (CPU p50) |`);
  console.log(`| --- | ${MARKS.map(() => '---:').join(' | ')} | ${MARKS.map(() => '---:').join(' | ')} | ---: | ---: |`);
  for (const r of merged) {
    console.log(
      `| ${r.subject} | ${r.marks.map((m) => `${fmtB(m.bytes)} (${m.ratio.toFixed(1)}×)`).join(' | ')} | ${r.marks.map((m) => m.turnsPerSec.toFixed(1)).join(' | ')} | ${r.getTuple.p50Ms.toFixed(2)} / ${r.getTuple.p99Ms.toFixed(2)} (${r.getTuple.cpuP50Ms?.toFixed(2)}) | ${r.list.p50Ms.toFixed(2)} / ${r.list.p99Ms.toFixed(2)} (${r.list.cpuP50Ms?.toFixed(2)}) |`,
    );
  }
  const found = (n: string) => merged.some((r) => r.subject === n);
  const by = (n: string) => merged.find((r) => r.subject === n)!;
  if (!['DgentSaver (SQLite)', 'DgentSaver (PostgreSQL)', 'SqliteSaver', 'PostgresSaver'].every(found)) return;
  const last = (r: RunResult) => r.marks[r.marks.length - 1]!;
  const targets = [
    ...(['DgentSaver (SQLite)', 'DgentSaver (PostgreSQL)'] as const).flatMap((n) => [
      { label: `${n}: storage after ${TURNS} turns / message bytes`, value: last(by(n)).ratio, target: '<= 3', met: last(by(n)).ratio <= 3 },
      { label: `${n}: turns/s @${TURNS} / turns/s @50`, value: last(by(n)).turnsPerSec / by(n).marks[0]!.turnsPerSec, target: '>= 0.8', met: last(by(n)).turnsPerSec / by(n).marks[0]!.turnsPerSec >= 0.8 },
    ]),
    { label: `getTuple @${TURNS}: DgentSaver (SQLite) vs SqliteSaver (p50 speed ratio)`, value: by('SqliteSaver').getTuple.p50Ms / by('DgentSaver (SQLite)').getTuple.p50Ms, target: '>= 1', met: by('SqliteSaver').getTuple.p50Ms / by('DgentSaver (SQLite)').getTuple.p50Ms >= 1 },
    { label: `getTuple @${TURNS}: DgentSaver (PostgreSQL) vs PostgresSaver (p50 speed ratio)`, value: by('PostgresSaver').getTuple.p50Ms / by('DgentSaver (PostgreSQL)').getTuple.p50Ms, target: '>= 1', met: by('PostgresSaver').getTuple.p50Ms / by('DgentSaver (PostgreSQL)').getTuple.p50Ms >= 1 },
  ];
  console.log('\n| target | value | wanted | met |');
  console.log('| --- | ---: | ---: | :---: |');
  for (const t of targets) console.log(`| ${t.label} | ${t.value.toFixed(2)} | ${t.target} | ${t.met ? 'yes' : 'NO'} |`);
  const out = process.env.BENCH_LG_OUT ?? join(dirname(fileURLToPath(import.meta.url)), 'results', 'langgraph.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ bench: 'langgraph', date: new Date().toISOString(), node: process.version, turns: TURNS, runs: all.length, results: merged, targets, perRun: all }, null, 2) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
