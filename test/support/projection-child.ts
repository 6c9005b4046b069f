/**
 * Child process of the runner crash and lease tests.
 *
 *   runner <sqlite|postgres|redis> <target> <owner> <leaseMs>   run the async counting projection `cnt`
 *       (tagged with <owner>) until killed; prints `ready` once started, then `state <state> <leader>`
 *       whenever either changes
 *   append <sqlite|postgres> <target> <count> <pauseMs>   append <count> events (n = 1..count)
 *       to 3 streams, pausing between appends; prints `done`
 *
 * <target>: for sqlite a directory holding log.db (the log) and views.db (the views, another file);
 * for postgres `<url>#<schema>` (the log in <schema>, the views in <schema>_v); for redis
 * `<pg url>#<schema>#<redis url>` (the log in PostgreSQL, the views in Redis under prefix <schema>).
 */
import { join } from 'node:path';
import { ProjectionRunner, SqliteEventLog, SqliteViewStorage, type EventLog, type ViewStorage } from '../../src/index.js';
import { PostgresEventLog, PostgresViewStorage } from '../../src/postgres.js';
import { RedisViewStorage } from '../../src/redis.js';
import { countingProjection } from './projection-counting.js';

const [mode, kind, target, a, b] = process.argv.slice(2);

function open(): { log: EventLog; views: ViewStorage } {
  if (kind === 'sqlite') return { log: new SqliteEventLog({ path: join(target!, 'log.db'), busyTimeoutMs: 30_000 }), views: new SqliteViewStorage({ path: join(target!, 'views.db'), busyTimeoutMs: 30_000 }) };
  const [url, schema, redisUrl] = target!.split('#') as [string, string, string | undefined];
  const log = new PostgresEventLog({ connectionString: url, schema });
  if (kind === 'redis') return { log, views: new RedisViewStorage({ url: redisUrl!, prefix: schema }) };
  return { log, views: new PostgresViewStorage({ connectionString: url, schema: `${schema}_v` }) };
}

const { log, views } = open();
if (mode === 'runner') {
  const owner = a!;
  const runner = new ProjectionRunner({ log, storage: views, owner, leaseMs: Number(b), batchSize: 7, batchMs: 5, projections: [{ projection: countingProjection({ name: 'cnt', tag: owner }), mode: 'async' }] });
  await runner.start();
  process.stdout.write('ready\n');
  let last = '';
  for (;;) {
    const [s] = await runner.status('cnt');
    const now = `state ${s!.state} ${s!.leader}`;
    if (now !== last) process.stdout.write(`${now}\n`);
    last = now;
    await new Promise((r) => setTimeout(r, 20));
  }
} else if (mode === 'append') {
  const count = Number(a);
  const pauseMs = Number(b);
  for (let n = 1; n <= count; n++) {
    await log.append(`s-${n % 3}`, [{ type: 'Added', data: { n } }]);
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
  process.stdout.write('done\n');
  await log.close();
  process.exit(0);
} else {
  process.stderr.write(`unknown mode ${String(mode)}\n`);
  process.exit(2);
}
