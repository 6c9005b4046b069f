/**
 * Format 3 (lg.b): DgentSaver holds pending writes until the put of the next checkpoint (or the
 * next turn of the event loop) and stores them in that checkpoint's event. Whatever the order and
 * overlap of put / putWrites calls (awaited or not, as LangGraph's loop makes them), every
 * checkpoint reads back (same saver, and a fresh one on the same log: the text cache of a cold
 * reader) with its channel values and exactly LangGraph's pending writes; putWrites resolves only
 * once its writes are stored; a fenced put that fails takes the writes it held down with it.
 */
import { compareWritesSortKeys, uuid6, WRITES_IDX_MAP, writesSortKey, type Checkpoint } from '@langchain/langgraph-checkpoint';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConcurrencyError, MemoryEventLog } from '../src/index.js';
import { DgentSaver } from '../src/langgraph.js';

type Op =
  | { k: 'writes'; target: 'latest' | 'parent'; task: number; writes: [string, unknown][]; wait: boolean }
  | { k: 'put'; fresh: number; wait: boolean }
  | { k: 'read'; settle: boolean };

const value = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.record({ text: fc.string({ maxLength: 6 }) }));
const write: fc.Arbitrary<[string, unknown]> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ text: fc.string({ maxLength: 8 }) }).map((m): [string, unknown] => ['messages', m]) },
  { weight: 1, arbitrary: fc.array(fc.record({ text: fc.string({ maxLength: 8 }) }), { minLength: 1, maxLength: 2 }).map((m): [string, unknown] => ['messages', m]) },
  { weight: 2, arbitrary: value.map((v): [string, unknown] => ['x', v]) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('__error__', '__interrupt__'), value).map(([c, v]): [string, unknown] => [c, v]) },
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ k: fc.constant('writes' as const), target: fc.constantFrom('latest' as const, 'latest' as const, 'parent' as const), task: fc.nat(3), writes: fc.array(write, { minLength: 1, maxLength: 3 }), wait: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('put' as const), fresh: fc.nat(2), wait: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('read' as const), settle: fc.boolean() }) },
);

interface ModelCheckpoint {
  id: string;
  parent: string | undefined;
  messages: unknown[];
  /** `${task},${idx}` -> [task, channel, value], LangGraph's rule: a regular write stays, a special one (idx < 0) replaces */
  writes: Map<string, [string, string, unknown]>;
}

const THREAD = 'th';
const TASK = (n: number) => `00000000-0000-4000-8000-00000000000${n}`;

function expectedWrites(c: ModelCheckpoint): [string, string, unknown][] {
  return [...c.writes.entries()]
    .map(([key, w]) => ({ w, key: writesSortKey('', w[0], Number(key.split(',')[1])) }))
    .sort((a, b) => compareWritesSortKeys(a.key, b.key))
    .map(({ w }) => w);
}

async function check(saver: DgentSaver, cps: ModelCheckpoint[]): Promise<void> {
  for (const c of cps) {
    const t = await saver.getTuple({ configurable: { thread_id: THREAD, checkpoint_ns: '', checkpoint_id: c.id } });
    expect(t?.checkpoint.id).toBe(c.id);
    expect(t?.parentConfig?.configurable?.checkpoint_id).toBe(c.parent);
    expect(t?.checkpoint.channel_values['messages'], `messages of ${c.id}`).toEqual(c.messages);
    expect(t?.pendingWrites, `pending writes of ${c.id}`).toEqual(expectedWrites(c));
  }
}

async function run(ops: Op[], order: number[]): Promise<void> {
  const log = new MemoryEventLog();
  const saver = new DgentSaver({ log });
  const cps: ModelCheckpoint[] = [];
  const inflight: Promise<unknown>[] = [];
  /** (checkpoint, task) pairs with a putWrites not awaited yet: a later one waits for it (LangGraph's rule is order-dependent) */
  const open = new Set<string>();
  let ids = 0;
  const settle = async () => {
    await Promise.all(inflight.splice(0));
    open.clear();
  };
  for (const o of ops) {
    if (o.k === 'read') {
      // without settling: calls are stored in call order, and a read stores the writes held first
      if (o.settle) await settle();
      await check(saver, cps);
      continue;
    }
    if (o.k === 'writes') {
      const latest = cps[cps.length - 1];
      const c = o.target === 'parent' && latest?.parent ? cps.find((x) => x.id === latest.parent) : latest;
      if (!c) continue;
      if (open.has(`${c.id},${o.task}`)) await settle();
      const task = TASK(o.task);
      o.writes.forEach(([ch, v], i) => {
        const idx = (WRITES_IDX_MAP as Record<string, number>)[ch] ?? i;
        if (idx < 0 || !c.writes.has(`${task},${idx}`)) c.writes.set(`${task},${idx}`, [task, ch, structuredClone(v)]);
      });
      const p = saver.putWrites({ configurable: { thread_id: THREAD, checkpoint_ns: '', checkpoint_id: c.id } }, o.writes, task, `~__pregel_pull, node${o.task}`);
      // what is stored is the value as of the call (LangGraph's reducers add ids to written messages afterwards)
      for (const [, v] of o.writes) for (const m of Array.isArray(v) ? v : [v]) if (typeof m === 'object' && m !== null) (m as Record<string, unknown>)['changed'] = true;
      if (o.wait) await p;
      else {
        inflight.push(p);
        open.add(`${c.id},${o.task}`);
      }
      continue;
    }
    // a checkpoint after the latest: its messages are the parent's, plus (as the messages reducer
    // does) the parent's written messages with an id added, plus fresh items
    const parent = cps[cps.length - 1];
    const written = parent
      ? expectedWrites(parent)
          .filter(([, ch]) => ch === 'messages')
          .flatMap(([, , v]) => (Array.isArray(v) ? v : [v]))
          .map((m) => ({ ...(m as object), id: `m${(ids += 1)}` }))
      : [];
    const fresh = Array.from({ length: o.fresh }, () => ({ text: 'fresh', id: `f${(ids += 1)}` }));
    const messages = [...(parent?.messages ?? []), ...written, ...fresh];
    const id = uuid6(-1);
    const version = cps.length + 1;
    const checkpoint: Checkpoint = { v: 4, id, ts: new Date(1_800_000_000_000 + version).toISOString(), channel_values: { messages }, channel_versions: { messages: version }, versions_seen: {} };
    cps.push({ id, parent: parent?.id, messages, writes: new Map() });
    const config = { configurable: { thread_id: THREAD, checkpoint_ns: '', ...(parent ? { checkpoint_id: parent.id } : {}) } };
    const p = saver.put(config, checkpoint, { source: 'loop', step: version, parents: {} }, { messages: version });
    if (o.wait) await p;
    else inflight.push(p);
  }
  await settle();
  await check(saver, cps);
  // another process: the log alone, read cold (no value cache), in a random order
  const fresh = new DgentSaver({ log, valueCacheSize: 0 });
  await check(fresh, order.map((i) => cps[i % Math.max(cps.length, 1)]!).filter((c) => c !== undefined));
  await check(fresh, cps);
  // every event is one the saver writes in format 2 or 3, and no write was lost or stored twice
  const types = new Set<string>();
  for await (const e of log.readAll()) types.add(e.type);
  for (const t of types) expect(['lg.c', 'lg.w', 'lg.b']).toContain(t);
}

describe('DgentSaver pending writes in the next checkpoint event (format 3)', () => {
  it('any interleaving of put and putWrites reads back exactly: values, pending writes in LangGraph order, on the saver and on a fresh one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(40), { maxLength: 8 }), (ops, order) => run(ops, order)),
      { numRuns: 60 },
    );
  });

  it('a step as LangGraph makes it (writes, then the next put, not awaited in between) is one event; putWrites resolves once that event is stored', async () => {
    const log = new MemoryEventLog();
    const saver = new DgentSaver({ log });
    const cfg = (id?: string) => ({ configurable: { thread_id: THREAD, checkpoint_ns: '', ...(id ? { checkpoint_id: id } : {}) } });
    const cp = (id: string, n: number): Checkpoint => ({ v: 4, id, ts: new Date(1_800_000_000_000 + n).toISOString(), channel_values: { messages: [] }, channel_versions: { messages: n }, versions_seen: {} });
    const a = uuid6(-1);
    await saver.put(cfg(), cp(a, 1), { source: 'input', step: -1, parents: {} }, { messages: 1 });
    let stored = false;
    const w = saver.putWrites(cfg(a), [['x', 1]], TASK(1)).then(() => (stored = true));
    const b = uuid6(-1);
    const p = saver.put(cfg(a), cp(b, 2), { source: 'loop', step: 0, parents: {} }, { messages: 2 });
    await Promise.all([w, p]);
    expect(stored).toBe(true);
    const types = [];
    for await (const e of log.readAll()) types.push(e.type);
    expect(types).toEqual(['lg.c', 'lg.b']);
    // writes no put takes (a run that ended on an interrupt) are stored on the next turn of the event loop
    const i = saver.putWrites(cfg(b), [['__interrupt__', { value: 'approve?' }]], TASK(2));
    await i;
    const fresh = await new DgentSaver({ log }).getTuple(cfg(b));
    expect(fresh?.pendingWrites).toEqual([[TASK(2), '__interrupt__', { value: 'approve?' }]]);
  });

  it('a put fenced out by another writer fails, and so do the writes it held; nothing of them is stored', async () => {
    const log = new MemoryEventLog();
    const first = new DgentSaver({ log });
    const second = new DgentSaver({ log });
    const cfg = (id?: string) => ({ configurable: { thread_id: THREAD, checkpoint_ns: '', ...(id ? { checkpoint_id: id } : {}) } });
    const cp = (id: string, n: number): Checkpoint => ({ v: 4, id, ts: new Date(1_800_000_000_000 + n).toISOString(), channel_values: {}, channel_versions: { x: n }, versions_seen: {} });
    const a = uuid6(-1);
    await first.put(cfg(), cp(a, 1), { source: 'input', step: -1, parents: {} }, { x: 1 });
    await second.getTuple(cfg());
    await second.put(cfg(a), cp(uuid6(-1), 2), { source: 'loop', step: 0, parents: {} }, { x: 2 });
    const w = first.putWrites(cfg(a), [['x', 'lost']], TASK(1));
    const p = first.put(cfg(a), cp(uuid6(-1), 3), { source: 'loop', step: 0, parents: {} }, { x: 3 });
    await expect(p).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(w).rejects.toBeInstanceOf(ConcurrencyError);
    let count = 0;
    for await (const _ of log.readAll()) count += 1;
    expect(count).toBe(2);
  });
});
