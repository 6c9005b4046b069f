import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decode, SqliteEventLog, Store } from '../src/index.js';
const dir = mkdtempSync(join(tmpdir(), 'get-'));
const value = (i: number) => ({ name: `user ${i}`, age: i % 97, email: `user${i}@example.com`, tags: ['a', 'b'], bio: 'x'.repeat(100) });
const log = new SqliteEventLog({ path: join(dir, 'store.db') });
const store = new Store({ log, sweepIntervalMs: 0, ...(process.env.NOOTEL ? { openTelemetry: false } : {}) } as any);
await store.setMany(Array.from({ length: 1000 }, (_, j) => [`k${j}`, value(j)] as const));
const ro = new Database(join(dir, 'store.db'), { readonly: true });
const table = ro.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dgent_p_kv__g%_kv'`).pluck().get() as string;
const s = ro.prepare(`SELECT value FROM "${table}" WHERE namespace = ? AND key = ?`);
const N = 300000;
for (let r = 0; r < 3; r++) for (const [name, f] of [['raw', (k: string) => decode((s.get('default', k) as any).value)], ['store.get', (k: string) => store.get(k)]] as const) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await f(`k${i % 1000}`);
  console.log(name.padEnd(10), (Number(process.hrtime.bigint() - t0) / N).toFixed(0), 'ns');
}
await store.close(); await log.close();
