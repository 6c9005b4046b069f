/**
 * A child process of test/store.read-checks.postgres.int.test.ts: opens a Store on a PostgreSQL
 * schema (inline views) and, until the sum of the keys c0..c<n-1> reaches `limit`, runs
 * transactions that read every key and add 1 to its own key `c<me>` when the sum is below the
 * limit. Prints `done <{ commits, attempts }>`. A write skew (two transactions passing the check on
 * the same sum) would push the total past the limit.
 * Usage: node --import tsx store-tx-child.ts '<json args>'
 */
import { Store } from '../../src/index.js';
import { PostgresEventLog } from '../../src/postgres.js';

interface Args {
  url: string;
  schema: string;
  me: number;
  n: number;
  limit: number;
}

const a = JSON.parse(process.argv[2]!) as Args;
const log = new PostgresEventLog({ connectionString: a.url, schema: a.schema });
const store = new Store({ log, actor: `child${a.me}`, sweepIntervalMs: 0, maxRetries: 10_000 });
let commits = 0;
let attempts = 0;
for (;;) {
  const wrote = await store.transaction(async (tx) => {
    attempts++;
    let sum = 0;
    for (let i = 0; i < a.n; i++) sum += (await tx.get<number>(`c${i}`)) ?? 0;
    if (sum >= a.limit) return false;
    await tx.set(`c${a.me}`, ((await tx.get<number>(`c${a.me}`)) ?? 0) + 1);
    return true;
  });
  if (!wrote) break;
  commits++;
}
console.log(`done ${JSON.stringify({ commits, attempts })}`);
await store.close();
await log.close();
