/**
 * Properties of DgentSaver's lifecycle (fast-check, memory log): for random thread histories
 * (branches, two namespaces, appended/replaced/delta channels, pending writes, interrupts):
 * - prune(keepLatest) keeps the newest checkpoints of each namespace, every kept checkpoint reads
 *   exactly as before, the DeltaChannel history of each newest checkpoint is unchanged (its
 *   ancestors up to the seed stay), the checkpoint waiting on an interrupt keeps its writes, and a
 *   fresh saver folding the log sees the same;
 * - a TTL expires a thread exactly when its last write is older than the TTL and no interrupt is
 *   pending.
 */
import fc from 'fast-check';
import { INTERRUPT, uuid6, type Checkpoint, type CheckpointTuple } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { MemoryEventLog } from '../src/index.js';
import { DgentSaver } from '../src/langgraph.js';

interface Step {
  ns: '' | 'sub';
  /** parent: index into this namespace's checkpoints so far (mod length), or the latest when null */
  parent: number | null;
  msgs: 'append' | 'replace' | 'same';
  delta: 'write' | 'seed' | 'none';
  writes: number;
  interrupt: boolean;
}

const stepArb: fc.Arbitrary<Step> = fc.record({
  ns: fc.constantFrom('' as const, '' as const, 'sub' as const),
  parent: fc.option(fc.nat(20), { nil: null, freq: 3 }),
  msgs: fc.constantFrom('append' as const, 'append' as const, 'replace' as const, 'same' as const),
  delta: fc.constantFrom('write' as const, 'write' as const, 'seed' as const, 'none' as const),
  writes: fc.nat(2),
  interrupt: fc.boolean(),
});

interface Made {
  config: { configurable: { thread_id: string; checkpoint_ns: string; checkpoint_id: string } };
  messages: unknown[];
  version: number;
}

/** Write a random history with the raw saver API; returns the configs per namespace. */
async function writeHistory(saver: DgentSaver, thread: string, steps: Step[]): Promise<Record<string, Made[]>> {
  const made: Record<string, Made[]> = { '': [], sub: [] };
  let v = 0;
  for (const s of steps) {
    const list = made[s.ns]!;
    const parent = list.length === 0 ? undefined : s.parent === null ? list[list.length - 1] : list[s.parent % list.length];
    v += 1;
    const prev = parent?.messages ?? [];
    const messages = s.msgs === 'append' ? [...prev, { text: `m${v}` }] : s.msgs === 'replace' ? [{ text: `r${v}` }] : prev;
    const values: Record<string, unknown> = { messages, counter: v };
    const versions: Record<string, number> = { messages: s.msgs === 'same' && parent ? parent.version : v, counter: v, d: v };
    if (s.delta === 'seed') values.d = [`seed${v}`];
    const cp: Checkpoint = { v: 4, id: uuid6(-1), ts: new Date(1_700_000_000_000 + v).toISOString(), channel_values: values, channel_versions: versions, versions_seen: { agent: { counter: v } } };
    const newVersions: Record<string, number> = { counter: v, d: v };
    if (!(s.msgs === 'same' && parent)) newVersions.messages = v;
    const metadata = { source: 'loop' as const, step: v, parents: {}, ...(s.delta !== 'none' ? { counters_since_delta_snapshot: { d: [1, 1] as [number, number] } } : {}) };
    const base = parent ? parent.config : { configurable: { thread_id: thread, checkpoint_ns: s.ns } };
    const config = (await saver.put(base, cp, metadata, newVersions)) as Made['config'];
    for (let w = 0; w < s.writes; w += 1) await saver.putWrites(config, [['d', [`w${v}.${w}`]], ['counter', w]], `task-${w}`, `~path, ${w}`);
    if (s.interrupt) await saver.putWrites(config, [[INTERRUPT, { value: `ask${v}` }]], 'task-i');
    list.push({ config, messages, version: versions.messages! });
  }
  return made;
}

async function tuples(saver: DgentSaver, thread: string): Promise<Map<string, CheckpointTuple>> {
  const out = new Map<string, CheckpointTuple>();
  for await (const t of saver.list({ configurable: { thread_id: thread } })) out.set(`${t.config.configurable?.checkpoint_ns}\0${t.checkpoint.id}`, t);
  return out;
}

describe('DgentSaver lifecycle properties', () => {
  it('prune never removes what a kept checkpoint or a pending interrupt needs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 4 }), async (steps, keepLatest) => {
        const log = new MemoryEventLog();
        const saver = new DgentSaver({ log });
        const made = await writeHistory(saver, 't', steps);
        const before = await tuples(saver, 't');
        const newest: CheckpointTuple[] = [];
        for (const ns of ['', 'sub']) newest.push(...[...before.values()].filter((t) => t.config.configurable?.checkpoint_ns === ns).slice(0, keepLatest));
        // the channels a DeltaChannel rebuilds from ancestors: counted since their snapshot in the
        // metadata and absent from the checkpoint's values (LangGraph asks only for those)
        const deltaOf = (t: CheckpointTuple) => Object.keys(t.metadata?.counters_since_delta_snapshot ?? {}).filter((ch) => !(ch in t.checkpoint.channel_values));
        const deltaBefore = await Promise.all(newest.map((t) => saver.getDeltaChannelHistory({ config: t.config, channels: deltaOf(t) })));
        const removed = await saver.prune('t', { keepLatest });
        const after = await tuples(saver, 't');
        expect(after.size).toBe(before.size - removed);
        // the newest of each namespace stay; every kept checkpoint reads exactly as before
        for (const t of newest) expect(after.has(`${t.config.configurable?.checkpoint_ns}\0${t.checkpoint.id}`)).toBe(true);
        for (const [key, t] of after) expect(t).toEqual(before.get(key));
        // DeltaChannel histories of the newest are unchanged (their ancestors up to the seed stayed)
        const deltaAfter = await Promise.all(newest.map((t) => saver.getDeltaChannelHistory({ config: t.config, channels: deltaOf(t) })));
        expect(deltaAfter).toEqual(deltaBefore);
        // the checkpoint waiting on an interrupt (the latest of its namespace) keeps it
        for (const ns of ['', 'sub']) {
          const latest = [...before.values()].find((t) => t.config.configurable?.checkpoint_ns === ns);
          if (latest?.pendingWrites?.some((w) => w[1] === INTERRUPT)) {
            expect((await saver.getTuple({ configurable: { thread_id: 't', checkpoint_ns: ns } }))?.pendingWrites).toEqual(latest.pendingWrites);
          }
        }
        // a fresh saver folding the log sees the same
        const fresh = await tuples(new DgentSaver({ log }), 't');
        expect([...fresh.keys()]).toEqual([...after.keys()]);
        expect(made).toBeDefined();
      }),
      { numRuns: 60 },
    );
  });

  it('a thread expires exactly when its last write is older than the TTL and no interrupt is pending', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ advance: fc.integer({ min: 0, max: 2000 }), write: fc.boolean(), interrupt: fc.boolean() }), { minLength: 1, maxLength: 12 }), async (ops) => {
        let now = 1_000_000;
        const saver = new DgentSaver({ log: new MemoryEventLog(), ttlMs: 1000, now: () => now });
        let lastWrite: number | undefined;
        let pending = false;
        let head: Made['config'] | undefined;
        for (const op of ops) {
          now += op.advance;
          const expired = lastWrite !== undefined && now >= lastWrite + 1000 && !pending;
          expect(await saver.isExpired('t')).toBe(expired);
          if (expired) return; // an expired thread reads as deleted
          if (op.write) {
            const id = uuid6(-1);
            const cp: Checkpoint = { v: 4, id, ts: new Date(now).toISOString(), channel_values: { n: now }, channel_versions: { n: now }, versions_seen: {} };
            head = (await saver.put(head ?? { configurable: { thread_id: 't', checkpoint_ns: '' } }, cp, { source: 'loop', step: 1, parents: {} }, { n: now })) as Made['config'];
            pending = false;
            if (op.interrupt) {
              await saver.putWrites(head, [[INTERRUPT, { value: 'ask' }]], 'task');
              pending = true;
            }
            lastWrite = now;
          }
        }
      }),
      { numRuns: 100 },
    );
  });
});
