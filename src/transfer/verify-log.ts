/**
 * `verifyLog`: check a log's invariants by reading it back: positions strictly increasing (and
 * gapless where the backend numbers them so: memory, file, SQLite), revisions gapless from 1 per
 * stream, ids unique, each stream's `revision()` equal to its last event, every event decodable
 * (the file log checks frame checksums on read; a damaged row fails its decode), and for SQLite the
 * file's own structure (PRAGMA quick_check). `verifyViews`: the Store's views equal a fresh fold of
 * the log's keyed events.
 */
import { isDgentError } from '../core/errors.js';
import type { EventLog } from '../streams/event-log.js';
import { FileEventLog } from '../streams/file/file-event-log.js';
import { MemoryEventLog } from '../streams/memory/memory-event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { canonicalDump, dumpModel, emptyModel, foldKeyed } from '../projections/model.js';
import { viewReaders } from '../projections/views/index.js';
import { defaultViewStorage } from '../store/default-views.js';
import type { RecordedEvent } from '../streams/event-log.js';
import type { OnProgress } from './progress.js';

/** One thing found wrong. */
export interface VerifyProblem {
  kind: 'position' | 'revision' | 'duplicate-id' | 'head' | 'unreadable' | 'storage' | 'view';
  message: string;
  stream?: string | undefined;
  position?: number | undefined;
}

/** What {@link verifyLog} found. */
export interface VerifyReport {
  ok: boolean;
  events: number;
  streams: number;
  /** at most `maxProblems` of them */
  problems: VerifyProblem[];
}

/** Options of {@link verifyLog}. */
export interface VerifyOptions {
  onProgress?: OnProgress | undefined;
  /** stop collecting after this many (default 100) */
  maxProblems?: number | undefined;
}

function gaplessPositions(log: EventLog): boolean {
  return log instanceof MemoryEventLog || log instanceof FileEventLog || log instanceof SqliteEventLog;
}

/**
 * Read the whole log and check it (see the module comment). Never writes.
 *
 * @example
 * ```ts
 * const report = await verifyLog(await openLog('sqlite:./data.db'));
 * if (!report.ok) for (const p of report.problems) console.error(p.kind, p.message);
 * ```
 */
export async function verifyLog(log: EventLog, options: VerifyOptions = {}): Promise<VerifyReport> {
  const max = options.maxProblems ?? 100;
  const problems: VerifyProblem[] = [];
  const add = (p: VerifyProblem): void => {
    if (problems.length < max) problems.push(p);
  };
  const heads = new Map<string, number>();
  const ids = new Set<string>();
  const gapless = gaplessPositions(log);
  let last = 0;
  let events = 0;
  try {
    for await (const e of log.readAll()) {
      events++;
      if (e.position <= last) add({ kind: 'position', message: `position ${e.position} after ${last}: positions must increase`, stream: e.stream, position: e.position });
      else if (gapless && e.position !== last + 1) add({ kind: 'position', message: `positions jump from ${last} to ${e.position}: ${e.position - last - 1} event(s) missing`, stream: e.stream, position: e.position });
      last = e.position;
      const head = heads.get(e.stream) ?? 0;
      if (e.revision !== head + 1) add({ kind: 'revision', message: `stream ${JSON.stringify(e.stream)} goes from revision ${head} to ${e.revision}`, stream: e.stream, position: e.position });
      heads.set(e.stream, Math.max(head, e.revision));
      if (ids.has(e.id)) add({ kind: 'duplicate-id', message: `event id ${e.id} appears twice`, stream: e.stream, position: e.position });
      ids.add(e.id);
      if (options.onProgress && events % 1000 === 0) options.onProgress({ done: events, position: e.position });
    }
  } catch (e) {
    if (!isDgentError(e) || e.code === 'BACKEND_UNAVAILABLE' || e.code === 'VALIDATION') throw e;
    add({ kind: 'unreadable', message: `reading after position ${last} failed: ${(e as Error).message}`, position: last });
  }
  for (const [stream, head] of heads) {
    const r = await log.revision(stream);
    if (r !== head) add({ kind: 'head', message: `stream ${JSON.stringify(stream)}: revision() says ${r}, its events end at ${head}`, stream });
  }
  if (log instanceof SqliteEventLog) {
    const check = await sqliteQuickCheck(log.path);
    if (check !== 'ok') add({ kind: 'storage', message: `SQLite quick_check: ${check}` });
  }
  options.onProgress?.({ done: events, total: events, position: last });
  return { ok: problems.length === 0, events, streams: heads.size, problems };
}

async function sqliteQuickCheck(path: string): Promise<string> {
  const { default: Database } = (await import('better-sqlite3')) as unknown as { default: new (p: string, o: object) => { pragma(s: string, o?: object): unknown; close(): void } };
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).join('; ');
  } finally {
    db.close();
  }
}

/**
 * Compare the Store's views (on the log's own backend: memory, SQLite, PostgreSQL) with a fresh
 * fold of the log's keyed events. Problems name the keys whose rows differ.
 */
export async function verifyViews(log: EventLog): Promise<VerifyProblem[]> {
  return (await verifyViewsReport(log)).problems;
}

/** What {@link verifyViewsReport} compared: the keyed events of the log, and the rows their fresh fold gives, per view. */
export interface ViewsCompared {
  /** the log's keyed events (the Store's: `kv.*`), which the views fold */
  events: number;
  keys: number;
  versions: number;
  audit: number;
  namespaces: number;
}

/** {@link verifyViews}, with the number of keyed events folded and of rows compared per view. */
export async function verifyViewsReport(log: EventLog): Promise<{ problems: VerifyProblem[]; compared: ViewsCompared }> {
  const events: RecordedEvent[] = [];
  for await (const e of log.readAll()) events.push(e);
  const expected = dumpModel(foldKeyed(emptyModel(), events));
  const compared = { events: events.filter((e) => e.type.startsWith('kv.')).length, keys: expected.kv.length, versions: expected.versions.length, audit: expected.audit.length, namespaces: expected.namespaces.length };
  const storage = await defaultViewStorage(log);
  try {
    const r = viewReaders(storage);
    const actual = canonicalDump({ kv: await r.kv.all(), namespaces: await r.kv.namespaces(), versions: await r.versions.all(), audit: await r.audit.all() });
    const problems: VerifyProblem[] = [];
    const compare = (view: string, want: Map<string, string[]>, got: Map<string, string[]>): void => {
      for (const id of new Set([...want.keys(), ...got.keys()])) {
        const a = JSON.stringify(want.get(id) ?? []);
        const b = JSON.stringify(got.get(id) ?? []);
        if (a !== b) problems.push({ kind: 'view', message: `view ${view}: ${id} differs from a fresh fold of the log (view ${b}, log ${a})` });
      }
    };
    const group = <T extends { namespace: string; key?: string | null }>(rows: T[]) => {
      const m = new Map<string, string[]>();
      for (const x of rows) {
        const id = `${x.namespace}/${x.key ?? ''}`;
        m.set(id, [...(m.get(id) ?? []), JSON.stringify(x)]);
      }
      return m;
    };
    compare('kv', group(expected.kv), group(actual.kv));
    compare('kv_versions', group(expected.versions), group(actual.versions));
    compare('kv_audit', group(expected.audit), group(actual.audit));
    compare('namespaces', group(expected.namespaces), group(actual.namespaces));
    return { problems, compared };
  } finally {
    await storage.close();
  }
}
