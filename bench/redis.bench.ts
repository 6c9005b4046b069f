/**
 * Redis backends against raw ioredis on the same server (DGENT_REDIS_URL, default redis://127.0.0.1:6379):
 * - RedisAgent load vs GET, and save vs SET, of the same encoded state (target >= 0.8x), beside raw
 *   ioredis sending the agent's own save script (the floor of a versioned save: no target)
 * - RedisEventLog sequential appends, 16 concurrent appenders, readAll vs raw XRANGE + JSON.parse
 * The agent cases run in rotating short rounds after uncounted warm-up rounds (see paired.ts).
 * Keys live under a unique prefix and are deleted afterwards (SCAN, never KEYS).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { encode } from '../src/index.js';
import { RedisAgent, RedisEventLog } from '../src/redis.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';
import { SAVE } from '../src/agents/redis/scripts.js';

const URL = process.env.DGENT_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A typical agent state: a short conversation and some bookkeeping (~2 KB encoded). */
function sampleState(): { turns: { role: string; text: string; at: number }[]; tools: string[]; step: number } {
  return {
    turns: Array.from({ length: 16 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: `message ${i} `.repeat(8), at: 1_700_000_000_000 + i })),
    tools: ['search', 'calculator', 'browser'],
    step: 16,
  };
}

async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export async function main(): Promise<void> {
  const tag = `dgent_bench_${randomBytes(4).toString('hex')}`;
  const raw = new Redis(URL);
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  try {
    // --- RedisAgent vs GET/SET -------------------------------------------------------------
    const state = sampleState();
    const text = encode(state);
    const agent = new RedisAgent<typeof state>({ url: URL, prefix: `${tag}:`, key: 'agent', maxHistory: 10 });
    await agent.save(state);
    const frozen = await agent.load(); // what an agent saves in practice: a state that came from load/update
    await raw.set(`${tag}:raw`, text);
    const N = 500; // per round
    const [load, get] = await paired([
      [
        'RedisAgent.load',
        N,
        async () => {
          for (let i = 0; i < N; i++) await agent.load();
        },
      ],
      [
        'ioredis GET',
        N,
        async () => {
          for (let i = 0; i < N; i++) await raw.get(`${tag}:raw`);
        },
      ],
    ]);
    // saving the loaded state again re-uses its encoding; SET sends the ready string. The third case
    // is the floor under the agent: raw ioredis sending the agent's own save script (EVALSHA, same
    // arguments, a list of its own), i.e. what any atomic versioned save with history costs here
    const scriptKey = `${tag}:{script}`;
    const [save, set, script] = await paired([
      [
        'RedisAgent.save',
        N,
        async () => {
          for (let i = 0; i < N; i++) await agent.save(frozen);
        },
      ],
      [
        'ioredis SET',
        N,
        async () => {
          for (let i = 0; i < N; i++) await raw.set(`${tag}:raw`, text);
        },
      ],
      [
        "ioredis EVALSHA of the agent's save script",
        N,
        async () => {
          for (let i = 0; i < N; i++) await raw.evalsha(SAVE.sha, 1, scriptKey, text, '', '10', '0', `${scriptKey}:changes`);
        },
      ],
    ]);
    // the update() pattern: a new state every time, so save encodes; the raw side stringifies too
    let k = 0;
    const [saveNew, setNew] = await paired([
      [
        'RedisAgent.save (new state each call)',
        N,
        async () => {
          for (let i = 0; i < N; i++) await agent.save({ ...frozen, step: k++ });
        },
      ],
      [
        'ioredis SET (JSON.stringify each call)',
        N,
        async () => {
          for (let i = 0; i < N; i++) await raw.set(`${tag}:raw`, JSON.stringify({ ...state, step: k++ }));
        },
      ],
    ]);
    cases.push(load, get, save, set, script, saveNew, setNew);
    comparisons.push(
      { label: `RedisAgent load vs GET (${text.length} B state)`, subject: load, baseline: get, target: 0.8 },
      { label: 'RedisAgent save vs SET (unchanged loaded state)', subject: save, baseline: set, target: 0.8 },
      { label: "raw EVALSHA of the save script vs SET (the script's floor)", subject: script, baseline: set },
      { label: 'RedisAgent save vs raw EVALSHA of its script', subject: save, baseline: script },
      { label: 'RedisAgent save vs SET (new state, both encode)', subject: saveNew, baseline: setNew, target: 0.8 },
    );
    await agent.close();

    // --- RedisEventLog -----------------------------------------------------------------------
    const log = new RedisEventLog({ url: URL, prefix: `${tag}:log` });
    const payload = { text: 'the user said something of moderate length', tokens: 12, tags: ['a', 'b'] };
    let seq = 0;
    const A = 2_000;
    const sequential = await measure('RedisEventLog append (sequential, 1 event)', A, async () => {
      const s = `seq-${seq++}`;
      for (let i = 0; i < A; i++) await log.append(s, [{ type: 'Said', data: payload }]);
    });
    const C = 16;
    const concurrent = await measure(`RedisEventLog append (${C} concurrent appenders)`, C * 250, async () => {
      const round = seq++;
      await Promise.all(
        Array.from({ length: C }, async (_, w) => {
          for (let i = 0; i < 250; i++) await log.append(`c-${round}-${w}`, [{ type: 'Said', data: payload }], { expectedRevision: i });
        }),
      );
    });
    cases.push(sequential, concurrent);
    comparisons.push({ label: `${C} concurrent appenders vs sequential`, subject: concurrent, baseline: sequential });

    // readAll over the whole log vs raw XRANGE pages + JSON.parse of the same entries
    let total = 0;
    for await (const _ of log.readAll()) total++;
    const readAll = await measure(`RedisEventLog readAll (${total} events)`, total, async () => {
      let n = 0;
      for await (const _ of log.readAll()) n++;
      if (n !== total) throw new Error(`readAll returned ${n} of ${total}`);
    });
    const xrange = await measure('ioredis XRANGE + JSON.parse', total, async () => {
      let from = '-';
      let n = 0;
      for (;;) {
        const page = (await raw.xrange(`{${tag}:log}:all`, from, '+', 'COUNT', 256)) as [string, string[]][];
        for (const [, f] of page) {
          JSON.parse(f[9]!);
          n++;
        }
        if (page.length < 256) break;
        from = `(${page[page.length - 1]![0]}`;
      }
      if (n !== total) throw new Error(`XRANGE returned ${n} of ${total}`);
    });
    cases.push(readAll, xrange);
    comparisons.push({ label: 'RedisEventLog readAll vs raw XRANGE + JSON.parse', subject: readAll, baseline: xrange });
    await log.close();

    report('redis', cases, comparisons);
  } finally {
    await dropPrefix(raw, `${tag}:`);
    await dropPrefix(raw, `{${tag}:log}`);
    await raw.quit();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
