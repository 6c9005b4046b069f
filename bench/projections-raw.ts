/**
 * The hand-written baselines of bench/projections: read every `kv.set` event of a log with the raw
 * driver and write the same rows as the three views (a key's current row, a version row and an
 * audit row per event; same tables, keys and indexes), in batches of 500 events per transaction.
 * They know every event is a set, so they never read a current row (the views must).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { encode, defineProjection, type Projection, type SqliteViewContext } from '../src/index.js';
import { EVENTS_DDL } from '../src/streams/sqlite/schema.js';
import { uuidV7 } from '../src/core/uuid-v7.js';

const BATCH = 500;

function parseStream(stream: string): [string, string] {
  const slash = stream.indexOf('/');
  return [stream.slice(3, slash), stream.slice(slash + 1)];
}

/** The three views' tables with the views' columns, keys and indexes (`p`: the table name prefix). */
const viewsDdl = (p: string) => `
    CREATE TABLE IF NOT EXISTS ${p}kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, metadata TEXT,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER, position INTEGER NOT NULL, PRIMARY KEY (namespace, key)) STRICT;
    CREATE INDEX IF NOT EXISTS ${p}kv_exp ON ${p}kv (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS ${p}ns (namespace TEXT PRIMARY KEY, created_at INTEGER NOT NULL) STRICT;
    CREATE TABLE IF NOT EXISTS ${p}versions (namespace TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value TEXT, deleted INTEGER NOT NULL, metadata TEXT,
      expires_at INTEGER, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (namespace, key, version)) STRICT;
    CREATE TABLE IF NOT EXISTS ${p}audit (position INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, type TEXT NOT NULL,
      namespace TEXT NOT NULL, key TEXT, version INTEGER NOT NULL, metadata TEXT, tx TEXT) STRICT;
    CREATE INDEX IF NOT EXISTS ${p}audit_key ON ${p}audit (namespace, key, position);
    CREATE INDEX IF NOT EXISTS ${p}audit_actor ON ${p}audit (actor, position);
`;

/** The statements writing one `kv.set` event's rows into the tables of {@link viewsDdl}. */
function viewStatements(db: Database.Database, p: string) {
  const kv = db.prepare(`INSERT INTO ${p}kv VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = excluded.version,
    metadata = coalesce(excluded.metadata, ${p}kv.metadata), updated_at = excluded.updated_at, expires_at = excluded.expires_at, position = excluded.position`);
  const ver = db.prepare(`INSERT INTO ${p}versions VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`);
  const audit = db.prepare(`INSERT INTO ${p}audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`);
  /** the rows of one set: its encoded value and metadata (null: none, the key keeps its own), expiry or null (positional: no object per event in the rebuild loop) */
  return (n: string, k: string, revision: number, v: string, md: string | null, expiresAt: number | null, position: number, time: number, actor: string | null, operation: string): void => {
    kv.run(n, k, v, revision, md, time, time, expiresAt, position);
    ver.run(n, k, revision, v, md, expiresAt, time, actor, operation, position);
    audit.run(position, time, actor, operation, 'kv.set', n, k, revision, md);
  };
}

/**
 * The floor under an inline append with the three views, for any implementation inside dgent's
 * append: an inline projection that knows every event is a set without metadata or expiry (as in
 * the benchmark), so it never reads a row, plans nothing and runs the three statements the views'
 * rows need, prepared once. It writes no namespace row (the views add one only for a new namespace).
 */
export function handWrittenViews(): Projection<SqliteViewContext> {
  const prepared = new WeakMap<object, ReturnType<typeof viewStatements>>();
  return defineProjection<SqliteViewContext>({
    name: 'hand_written',
    version: 1,
    handles: ['kv.set'],
    setup: (ctx) => void ctx.db.exec(viewsDdl('hw_')),
    apply(events, ctx) {
      let write = prepared.get(ctx.db);
      if (!write) prepared.set(ctx.db, (write = viewStatements(ctx.db as unknown as Database.Database, 'hw_')));
      for (const e of events) {
        const [n, k] = parseStream(e.stream);
        write(n, k, e.revision, encode((e.data as { value: unknown }).value), null, null, e.position, e.time.getTime(), (e.metadata.actor as string | undefined) ?? null, 'set');
      }
    },
  });
}

/**
 * The same floor without dgent: `count` appends with the raw driver to a file with dgent's event
 * table, each in its own BEGIN IMMEDIATE ... COMMIT, with the three views' rows (`views`) or bare,
 * and with `checkpoint` the views' checkpoint rows advanced in the same transaction.
 * `event(i)` gives the i-th append's stream, encoded data, encoded metadata and value.
 */
export function rawSqliteAppends(path: string, views: boolean, count: number, event: (i: number) => { stream: string; data: string; metadata: string; value: string; actor: string }, checkpoint = false): { round: () => Promise<void>; close: () => void } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(EVENTS_DDL);
  if (views) db.exec(viewsDdl('raw_'));
  // `checkpoint`: the views' checkpoints in the same transaction, as exactly-once needs (one row per view)
  if (checkpoint) db.exec(`CREATE TABLE IF NOT EXISTS raw_checkpoints (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
    INSERT OR IGNORE INTO raw_checkpoints VALUES ('kv', 0), ('kv_versions', 0), ('kv_audit', 0);`);
  const advance = checkpoint ? db.prepare('UPDATE raw_checkpoints SET position = ?') : undefined;
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const insert = db.prepare('INSERT INTO dgent_events (stream, revision, id, type, data, metadata, time) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const heads = new Map<string, number>(); // the streams' revisions, kept in memory as the log does
  const write = views ? viewStatements(db, 'raw_') : undefined;
  let i = 0;
  const round = async (): Promise<void> => {
    for (let k = 0; k < count; k++, i++) {
      const e = event(i);
      const time = Date.now();
      begin.run();
      const revision = (heads.get(e.stream) ?? 0) + 1;
      heads.set(e.stream, revision);
      const position = Number(insert.run(e.stream, revision, uuidV7(), 'kv.set', e.data, e.metadata, time).lastInsertRowid);
      if (write) {
        const [n, key] = parseStream(e.stream);
        write(n, key, revision, e.value, null, null, position, time, e.actor, 'set');
      }
      advance?.run(position);
      commit.run();
      await Promise.resolve(); // as an awaited append would
    }
  };
  return { round, close: () => db.close() };
}

/** SQLite: rebuild raw_kv / raw_versions / raw_audit from dgent_events of the file at `path`. */
export function rawSqliteRebuild(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`DROP TABLE IF EXISTS raw_kv; DROP TABLE IF EXISTS raw_versions; DROP TABLE IF EXISTS raw_audit; DROP TABLE IF EXISTS raw_ns;`);
  db.exec(viewsDdl('raw_'));
  const page = db.prepare(`SELECT position, stream, revision, data, metadata, time FROM dgent_events WHERE position > ? AND type = 'kv.set' ORDER BY position LIMIT ${BATCH}`);
  const rowsOf = viewStatements(db, 'raw_');
  const ns = db.prepare('INSERT INTO raw_ns VALUES (?, ?) ON CONFLICT (namespace) DO NOTHING');
  const write = db.transaction((rows: any[]) => {
    for (const r of rows) {
      const d = JSON.parse(r.data);
      const m = JSON.parse(r.metadata ?? '{}');
      const [n, k] = parseStream(r.stream);
      const v = JSON.stringify(d.value);
      const md = d.metadata === undefined ? null : JSON.stringify(d.metadata);
      rowsOf(n, k, r.revision, v, md, d.expiresAt, r.position, r.time, m.actor ?? null, m.operation ?? 'set');
      ns.run(n, r.time);
    }
  });
  for (let after = 0; ; ) {
    const rows = page.all(after) as any[];
    if (rows.length === 0) break;
    write(rows);
    after = rows[rows.length - 1].position;
  }
  db.close();
}

/**
 * PostgreSQL: the same, from the log in `schema`, with one multi-row statement per table and batch.
 * Like the runner's rebuild of the three views (each on its own pooled connection, sharing the log's
 * pages), each page is read once and the three tables are written by three connections at once, in
 * one transaction each (a single sequential connection made the baseline ~3x slower than the views).
 */
export async function rawPgRebuild(url: string, schema: string): Promise<void> {
  const clients = [0, 1, 2].map(() => new pg.Client({ connectionString: url }));
  await Promise.all(clients.map((x) => x.connect()));
  const [c, c2, c3] = clients as [pg.Client, pg.Client, pg.Client];
  const s = `"${schema}"`;
  await c.query(`DROP TABLE IF EXISTS ${s}.raw_kv, ${s}.raw_versions, ${s}.raw_audit, ${s}.raw_ns;
    CREATE TABLE ${s}.raw_kv (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, value text NOT NULL, value_jsonb jsonb, version bigint NOT NULL,
      metadata text, created_at bigint NOT NULL, updated_at bigint NOT NULL, expires_at bigint, position bigint NOT NULL, PRIMARY KEY (namespace, key));
    CREATE INDEX ON ${s}.raw_kv (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE ${s}.raw_ns (namespace text COLLATE "C" PRIMARY KEY, created_at bigint NOT NULL);
    CREATE TABLE ${s}.raw_versions (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL, version bigint NOT NULL, value text, deleted boolean NOT NULL,
      metadata text, expires_at bigint, time bigint NOT NULL, actor text, operation text NOT NULL, position bigint NOT NULL, PRIMARY KEY (namespace, key, version));
    CREATE TABLE ${s}.raw_audit (position bigint PRIMARY KEY, time bigint NOT NULL, actor text, operation text NOT NULL, type text NOT NULL,
      namespace text COLLATE "C" NOT NULL, key text COLLATE "C", version bigint NOT NULL, metadata text, tx text);
    CREATE INDEX ON ${s}.raw_audit (namespace, key, position);
    CREATE INDEX ON ${s}.raw_audit (actor, position);
`);
  const tx = async (client: pg.Client, statements: [string, unknown[]][]): Promise<void> => {
    await client.query('BEGIN');
    for (const [text, values] of statements) await client.query(text, values);
    await client.query('COMMIT');
  };
  for (let after = 0; ; ) {
    const { rows } = await c.query(
      `SELECT position, stream, revision, data::text AS data, metadata::text AS metadata, (extract(epoch FROM time) * 1000)::bigint AS ms
       FROM ${s}.events WHERE position > $1 AND type = 'kv.set' ORDER BY position LIMIT ${BATCH}`,
      [after],
    );
    if (rows.length === 0) break;
    const kv = new Map<string, unknown[]>();
    const ver: unknown[][] = [];
    const aud: unknown[][] = [];
    for (const r of rows) {
      const d = JSON.parse(r.data);
      const m = JSON.parse(r.metadata);
      const [n, k] = parseStream(r.stream);
      const v = JSON.stringify(d.value);
      const t = Number(r.ms);
      kv.set(`${n}/${k}`, [n, k, v, r.revision, t, d.expiresAt, r.position]);
      ver.push([n, k, r.revision, v, t, m.actor ?? null, m.operation ?? 'set', r.position, d.expiresAt]);
      aud.push([r.position, t, m.actor ?? null, m.operation ?? 'set', n, k, r.revision]);
    }
    const col = (xs: unknown[][], i: number) => xs.map((x) => x[i]);
    const k = [...kv.values()];
    await Promise.all([
      tx(c, [
        [
          `INSERT INTO ${s}.raw_kv (namespace, key, value, value_jsonb, version, created_at, updated_at, expires_at, position)
       SELECT u.n, u.k, u.v, u.v::jsonb, u.ver, u.t, u.t, u.e, u.p FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS u(n, k, v, ver, t, e, p)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, value_jsonb = excluded.value_jsonb, version = excluded.version,
         updated_at = excluded.updated_at, expires_at = excluded.expires_at, position = excluded.position`,
          [0, 1, 2, 3, 4, 5, 6].map((i) => col(k, i)),
        ],
        [`INSERT INTO ${s}.raw_ns SELECT DISTINCT ON (n) n, t FROM unnest($1::text[], $2::bigint[]) AS u(n, t) ON CONFLICT DO NOTHING`, [col(k, 0), col(k, 4)]],
      ]),
      tx(c2, [
        [
          `INSERT INTO ${s}.raw_versions (namespace, key, version, value, deleted, time, actor, operation, position, expires_at)
       SELECT u.n, u.k, u.ver, u.v, false, u.t, u.a, u.o, u.p, u.e FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::bigint[]) AS u(n, k, ver, v, t, a, o, p, e)`,
          [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => col(ver, i)),
        ],
      ]),
      tx(c3, [
        [
          `INSERT INTO ${s}.raw_audit (position, time, actor, operation, type, namespace, key, version)
       SELECT u.p, u.t, u.a, u.o, 'kv.set', u.n, u.k, u.ver FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS u(p, t, a, o, n, k, ver)`,
          [0, 1, 2, 3, 4, 5, 6].map((i) => col(aud, i)),
        ],
      ]),
    ]);
    after = Number(rows[rows.length - 1].position);
  }
  await Promise.all(clients.map((x) => x.end()));
}
