/**
 * `npm run demo`: an assistant keeps its conversation memory with `update()`, survives a restart
 * (a second process), prints its history and a time-travel load of an older version — on the
 * embedded default (a file: PersistentAgent), on SQLite (SQLAgent, with a history query) and in
 * memory (VolatileAgent). Then the Store on a SQLite file (views inline in the same file):
 * namespaces, a query, versions, time travel, TTL and the audit trail. No services needed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PersistentAgent, SQLAgent, SqliteEventLog, Store, VolatileAgent, isVersioned, type DataAgent, type Updatable, type Versioned } from '../src/index.js';

interface Memory {
  turns: { role: 'user' | 'assistant'; text: string; at: Date }[];
  facts: Map<string, string>;
}

type Backend = 'file' | 'sqlite' | 'memory';
type Agent = DataAgent<Memory> & Versioned<Memory> & Updatable<Memory> & { close(): Promise<void> };

const initial: Memory = { turns: [], facts: new Map() };

function open(backend: Backend, dir: string): Agent {
  switch (backend) {
    case 'file':
      return new PersistentAgent<Memory>({ path: join(dir, 'assistant.json'), initial });
    case 'sqlite':
      return new SQLAgent<Memory>({ path: join(dir, 'agents.db'), id: 'assistant', initial });
    case 'memory':
      return new VolatileAgent<Memory>({ initial });
  }
}

/** One "session" of the assistant: it hears something, remembers it, answers. */
async function converse(agent: Agent, said: string): Promise<void> {
  await agent.update((m) => {
    m.turns.push({ role: 'user', text: said, at: new Date() });
    const name = /my name is (\w+)/i.exec(said)?.[1];
    if (name) m.facts.set('name', name);
    const known = m.facts.get('name');
    m.turns.push({ role: 'assistant', text: known ? `Noted, ${known}.` : 'Noted.', at: new Date() });
  });
}

async function report(agent: Agent, label: string): Promise<void> {
  const now = await agent.load();
  console.log(`  ${label}: version ${await agent.version()}, ${now.turns.length} turns, facts ${JSON.stringify(Object.fromEntries(now.facts))}`);
  console.log('  history (newest first):');
  for (const [i, s] of (await agent.history(3)).entries()) {
    const last = s.turns.at(-1);
    console.log(`    [${i}] ${s.turns.length} turns, last: ${last ? `${last.role}: ${last.text}` : '(none)'}`);
  }
  if (isVersioned(agent)) {
    const v1 = await agent.loadAt({ version: 1 });
    console.log(`  time travel to version 1: ${v1.turns.map((t) => `${t.role}: ${t.text}`).join(' | ')}`);
  }
  console.log(`  the loaded state is frozen: ${Object.isFrozen(now) && Object.isFrozen(now.turns)}`);
  const recent = await agent.history({ since: Date.now() - 60_000, limit: 10 });
  console.log(`  states saved in the last minute: ${recent.length}`);
  if (agent instanceof SQLAgent) {
    // filters on state fields, run by SQLite (json_extract): the same filters as Store.query
    const asked = await agent.countHistory({ path: 'turns.4.text', op: 'startsWith', value: 'What' });
    console.log(`  history query: ${asked} saved state(s) where the third question starts with "What"`);
  }
}

async function session(backend: Backend, dir: string, n: 1 | 2): Promise<void> {
  const agent = open(backend, dir);
  try {
    if (n === 1) {
      await converse(agent, 'Hello! My name is Ada.');
      await converse(agent, 'Remember that I like tea.');
      console.log(`  process ${process.pid} saved version ${await agent.version()} and exits`);
    } else {
      const before = await agent.load();
      console.log(`  process ${process.pid} restarted and remembers ${before.turns.length} turns; name = ${before.facts.get('name')}`);
      await converse(agent, 'What is my name?');
      await report(agent, 'after restart');
    }
  } finally {
    await agent.close();
  }
}

/** The Store: keyed, namespaced storage on the event log, with versions, audit and time travel for every key. */
async function storeDemo(dir: string): Promise<void> {
  const log = new SqliteEventLog({ path: join(dir, 'app.db') });
  // sweepIntervalMs: 0 = no timer; the demo sweeps expired keys itself to show the expiry event
  const store = new Store({ log, sweepIntervalMs: 0, actor: 'demo' });
  try {
    await store.createNamespace('users');
    await store.createNamespace('sessions');
    await store.set('ada', { name: 'Ada', age: 36, langs: ['en', 'fr'] }, { namespace: 'users', actor: 'alice' });
    await store.set('alan', { name: 'Alan', age: 41, langs: ['en'] }, { namespace: 'users', actor: 'alice' });
    await store.set('kid', { name: 'Kim', age: 9, langs: ['ko'] }, { namespace: 'users', actor: 'bob' });
    await store.update<{ age: number }>('ada', (u) => void (u!.age += 1), { namespace: 'users', actor: 'bob' });
    console.log(`  namespaces: ${(await store.listNamespaces()).join(', ')}`);

    const adults = await store.query<{ name: string }>([{ path: 'age', op: 'gte', value: 18 }, { path: 'langs', op: 'contains', value: 'en' }], { namespace: 'users', sort: [{ path: 'age', direction: 'desc' }] });
    console.log(`  query age >= 18 and speaks en: ${adults.map((r) => `${r.key} (v${r.version})`).join(', ')}; count of all users: ${await store.count(undefined, { namespace: 'users' })}`);

    const versions = await store.versions<{ age: number }>('ada', { namespace: 'users' });
    console.log(`  versions of ada (newest first): ${versions.map((v) => `v${v.version} age ${v.value?.age} by ${v.actor}`).join(' | ')}`);
    const before = await store.get<{ age: number }>('ada', { namespace: 'users', at: { version: 1 } });
    console.log(`  time travel: ada at version 1 was ${before?.age}, now ${(await store.get<{ age: number }>('ada', { namespace: 'users' }))?.age}`);

    await store.set('s1', { user: 'ada' }, { namespace: 'sessions', ttlMs: 50 });
    await new Promise((r) => setTimeout(r, 80));
    const gone = await store.get('s1', { namespace: 'sessions' });
    const swept = await store.sweep();
    console.log(`  TTL: session s1 after 80 ms: ${gone === undefined ? 'gone' : 'still there'}; the sweeper appended ${swept} expiry event(s)`);
    if (gone !== undefined || swept !== 1) throw new Error('the TTL part of the demo did not behave as described');

    const trail = await store.audit({ namespace: 'sessions' });
    console.log(`  audit of sessions (oldest first): ${trail.map((a) => `${a.operation} ${a.key ?? '(namespace)'} by ${a.actor}`).join(' | ')}`);
  } finally {
    await store.close();
    await log.close(); // the Store does not close the log it was given
  }
}

async function main(): Promise<void> {
  const [flag, backend, dir, n] = process.argv.slice(2);
  if (flag === '--session') return session(backend as Backend, dir!, Number(n) as 1 | 2);

  const self = fileURLToPath(import.meta.url);
  for (const b of ['file', 'sqlite'] as const) {
    const d = mkdtempSync(join(tmpdir(), `dgent-demo-${b}-`));
    try {
      console.log(`\n=== ${b === 'file' ? 'file (embedded default: PersistentAgent)' : 'SQLite (SQLAgent)'} in ${d}`);
      for (const n of [1, 2] as const) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--session', b, d, String(n)], { stdio: 'inherit' });
        if (r.status !== 0) throw new Error(`session ${n} on ${b} failed with exit code ${r.status}`);
      }
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }

  console.log('\n=== memory (VolatileAgent): same API, no restart to survive');
  const agent = open('memory', '');
  try {
    await converse(agent, 'Hello! My name is Ada.');
    await converse(agent, 'What is my name?');
    await report(agent, 'in memory');
  } finally {
    await agent.close(); // every agent is closed, even one in memory (later calls throw ClosedError)
  }

  const d = mkdtempSync(join(tmpdir(), 'dgent-demo-store-'));
  try {
    console.log(`\n=== Store on SQLite (event log + views in one file) in ${d}`);
    await storeDemo(d);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

await main();
