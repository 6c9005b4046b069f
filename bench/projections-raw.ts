/**
 * The hand-written baselines of bench/projections: read every `kv.set` event of a log with the raw
 * driver and write the same rows as the three views (a key's current row, a version row and an
 * audit row per event; same tables, keys and indexes), in batches of 500 events per transaction.
 * They know every event is a set, so they never read a current row (the views must).
 */
import Database from 'better-sqlite3';
import pg from 'pg';

const BATCH = 500;

function parseStream(stream: string): [string, string] {
  const slash = stream.indexOf('/');
  return [stream.slice(3, slash), stream.slice(slash + 1)];
}

/** SQLite: rebuild raw_kv / raw_versions / raw_audit from dgent_events of the file at `path`. */
export function rawSqliteRebuild(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`DROP TABLE IF EXISTS raw_kv; DROP TABLE IF EXISTS raw_versions; DROP TABLE IF EXISTS raw_audit; DROP TABLE IF EXISTS raw_ns;
    CREATE TABLE raw_kv (namespace TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, version INTEGER NOT NULL, metadata TEXT,
      created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER, position INTEGER NOT NULL, PRIMARY KEY (namespace, key)) STRICT;
    CREATE INDEX raw_kv_exp ON raw_kv (expires_at) WHERE expires_at IS NOT NULL;
    CREATE TABLE raw_ns (namespace TEXT PRIMARY KEY, created_at INTEGER NOT NULL) STRICT;
    CREATE TABLE raw_versions (namespace TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, value TEXT, deleted INTEGER NOT NULL, metadata TEXT,
      expires_at INTEGER, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (namespace, key, version)) STRICT;
    CREATE TABLE raw_audit (position INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT, operation TEXT NOT NULL, type TEXT NOT NULL,
      namespace TEXT NOT NULL, key TEXT, version INTEGER NOT NULL, metadata TEXT, tx TEXT) STRICT;
    CREATE INDEX raw_audit_key ON raw_audit (namespace, key, position);
    CREATE INDEX raw_audit_actor ON raw_audit (actor, position);
`);
  const page = db.prepare(`SELECT position, stream, revision, data, metadata, time FROM dgent_events WHERE position > ? AND type = 'kv.set' ORDER BY position LIMIT ${BATCH}`);
  const kv = db.prepare(`INSERT INTO raw_kv VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value, version = excluded.version,
    metadata = coalesce(excluded.metadata, raw_kv.metadata), updated_at = excluded.updated_at, expires_at = excluded.expires_at, position = excluded.position`);
  const ns = db.prepare('INSERT INTO raw_ns VALUES (?, ?) ON CONFLICT (namespace) DO NOTHING');
  const ver = db.prepare('INSERT INTO raw_versions VALUES (?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)');
  const audit = db.prepare('INSERT INTO raw_audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)');
  const write = db.transaction((rows: any[]) => {
    for (const r of rows) {
      const d = JSON.parse(r.data);
      const m = JSON.parse(r.metadata ?? '{}');
      const [n, k] = parseStream(r.stream);
      const v = JSON.stringify(d.value);
      const md = d.metadata === undefined ? null : JSON.stringify(d.metadata);
      kv.run(n, k, v, r.revision, md, r.time, r.time, d.expiresAt, r.position);
      ns.run(n, r.time);
      ver.run(n, k, r.revision, v, md, d.expiresAt, r.time, m.actor ?? null, m.operation ?? 'set', r.position);
      audit.run(r.position, r.time, m.actor ?? null, m.operation ?? 'set', 'kv.set', n, k, r.revision, md);
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
