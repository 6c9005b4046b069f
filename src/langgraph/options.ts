/**
 * DgentSaver's options and how they become an EventLog: an existing log, a SQLite file (`path`),
 * or PostgreSQL (`connectionString`), the last loaded lazily so that `dgent/langgraph` does not
 * need `pg` unless it is used.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { driverLoadError } from '../core/drivers.js';
import { DgentError, ValidationError, shown } from '../core/errors.js';
import type { EventLog } from '../streams/event-log.js';
import { SqliteEventLog } from '../streams/sqlite/sqlite-event-log.js';
import { MAX_NAME_LENGTH } from '../streams/validate.js';

/** Settings shared by every form of {@link DgentSaverOptions}. */
export interface DgentSaverCommonOptions {
  /** the serializer of checkpoints, metadata and values (default: LangGraph's JsonPlusSerializer) */
  serde?: SerializerProtocol | undefined;
  /** prefix of every stream name, so that several savers can share a log (default `'lg:'`) */
  prefix?: string | undefined;
  /** default time to live of a thread after its last write, in ms (default: none); see `setThreadTtl` */
  ttlMs?: number | undefined;
  /**
   * for an array kept in its value stream (appended items too big to keep in the checkpoint, or not
   * extending the parent's value): it is stored whole again once this many items were appended since
   * the last whole one, and at least as many as it had (default 512)
   */
  snapshotEvery?: number | undefined;
  /** non-array values up to this size (serialised bytes) are kept inside the checkpoint event (default 256) */
  inlineMaxBytes?: number | undefined;
  /**
   * array channel values (conversations) kept in memory by reference, so that a run does not
   * deserialise the whole thread again (default 64; 0: off). Values are treated as immutable, as
   * LangGraph's reducers treat them: do not change a returned message in place.
   */
  valueCacheSize?: number | undefined;
  /** threads whose index is kept in memory (default 1000) */
  maxCachedThreads?: number | undefined;
  /** the clock of TTLs (ms since epoch; default Date.now) */
  now?: (() => number) | undefined;
}

/**
 * Where DgentSaver stores: `{ log }` (any dgent EventLog, not closed by `close()`), `{ path }` (a
 * SQLite file) or `{ connectionString }` (PostgreSQL, needs `pg`; `schema` default `'dgent'`).
 */
export type DgentSaverOptions = DgentSaverCommonOptions &
  ({ log: EventLog; path?: never; connectionString?: never } | { path: string; log?: never; connectionString?: never } | { connectionString: string; schema?: string | undefined; log?: never; path?: never });

/** The log for the options, and whether the saver owns it (closes it on close()). */
export function openLog(options: DgentSaverOptions): { log: Promise<EventLog>; owned: boolean } {
  const o = options as { log?: EventLog; path?: string; connectionString?: string; schema?: string };
  const given = [o.log, o.path, o.connectionString].filter((v) => v !== undefined).length;
  if (given !== 1) throw new ValidationError('DgentSaver needs exactly one of { log, path, connectionString }');
  if (o.log) return { log: Promise.resolve(o.log), owned: false };
  if (o.path !== undefined) {
    if (typeof o.path !== 'string' || o.path === '') throw new ValidationError('DgentSaver: path must be a non-empty string');
    return { log: Promise.resolve(new SqliteEventLog({ path: o.path })), owned: true };
  }
  if (typeof o.connectionString !== 'string' || o.connectionString === '') throw new ValidationError('DgentSaver: connectionString must be a non-empty string');
  const log = import('../streams/postgres/postgres-event-log.js').then(
    (m) => new m.PostgresEventLog({ connectionString: o.connectionString!, schema: o.schema }) as EventLog,
    (e: unknown) => {
      // the module loads pg when evaluated; report the missing driver under our own name
      throw driverLoadError('DgentSaver with a connectionString', 'pg', e instanceof DgentError && e.cause !== undefined ? e.cause : e);
    },
  );
  log.catch(() => undefined); // reported by the first call that awaits it
  return { log, owned: true };
}

export function checkCommon(o: DgentSaverCommonOptions): void {
  if (o.valueCacheSize !== undefined && (!Number.isInteger(o.valueCacheSize) || o.valueCacheSize < 0)) throw new ValidationError(`DgentSaver: valueCacheSize must be an integer >= 0, got ${shown(o.valueCacheSize)}`);
  for (const k of ['snapshotEvery', 'inlineMaxBytes', 'maxCachedThreads'] as const) {
    const v = o[k];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new ValidationError(`DgentSaver: ${k} must be an integer >= 1, got ${shown(v)}`);
  }
  if (o.ttlMs !== undefined && (!Number.isFinite(o.ttlMs) || o.ttlMs <= 0)) throw new ValidationError(`DgentSaver: ttlMs must be a number > 0, got ${shown(o.ttlMs)}`);
  if (o.prefix !== undefined && (typeof o.prefix !== 'string' || o.prefix.length > 64)) throw new ValidationError('DgentSaver: prefix must be a string of at most 64 characters');
}

/** base64 digits in ASCII order, so that ids compare (bytewise) as their numbers do */
const SORTED64 = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

function digits(n: number, count: number, out: string[]): void {
  for (let i = count - 1; i >= 0; i -= 1) out.push(SORTED64[Math.floor(n / 64 ** i) % 64]!);
}

/**
 * A short unique event id: 16 characters, the time in ms (48 bits) then 48 random bits. The log's
 * default UUID would take 36 bytes twice (row and index) per event; time first, so that the log's
 * unique index on ids grows at its end (full pages) instead of splitting pages at random places.
 */
export function newEventId(): string {
  const out: string[] = [];
  digits(Date.now(), 8, out);
  const r = randomBytes(6);
  digits(r.readUIntBE(0, 6), 8, out);
  return out.join('');
}

/** Stream names of a saver. */
export class StreamNames {
  constructor(private readonly prefix: string) {}

  thread(threadId: string): string {
    return `${this.prefix}t:${threadId}`;
  }

  /** the thread id of a thread stream name, or undefined for other streams */
  threadOf(stream: string): string | undefined {
    const head = `${this.prefix}t:`;
    return stream.startsWith(head) ? stream.slice(head.length) : undefined;
  }

  /** value stream names of the thread whose thread stream is `threadStream` */
  readonly streamsOf = (threadStream: string) => {
    const threadId = this.threadOf(threadStream) ?? threadStream;
    return (ns: string, channel: string): string => this.values(threadId, ns, channel);
  };

  /** the value stream of one channel of one namespace of a thread (hashed when the name would be too long) */
  values(threadId: string, ns: string, channel: string): string {
    const plain = ![threadId, ns, channel].some((p) => p.includes('\u001f'));
    const name = `${this.prefix}v:${plain ? [threadId, ns, channel].join('\u001f') : JSON.stringify([threadId, ns, channel])}`;
    if (name.length <= MAX_NAME_LENGTH) return name;
    return `${this.prefix}v#${createHash('sha256').update(name).digest('hex')}`;
  }
}
