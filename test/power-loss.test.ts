/**
 * Simulated power loss for the files we write ourselves (PersistentAgent, FileEventLog, the vector
 * index file), as SQLite's crash tests do it: the writers' file-system calls go through a recording
 * layer (test/support/power-loss-fs.ts); at a crash point chosen by fast-check the power goes, and
 * the files are rebuilt as a machine would find them (only what was fsynced, plus random torn,
 * lost or reordered later writes; a rename only once its directory was fsynced). The real code then
 * opens those files, and every acknowledged write must be there, with nothing corrupt; recovery
 * (which itself runs under the next crash point) must succeed, and the files must stay writable.
 *
 * SIGKILL tests cannot find a missing fsync (the page cache outlives the process); this one does:
 * deleting any one fsync/fdatasync/directory fsync on these write paths makes it fail.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { setFsLayer } from '../src/core/fs-layer.js';
import { PersistentAgent } from '../src/agents/persistent-agent.js';
import { FileEventLog } from '../src/streams/file/file-event-log.js';
import type { RecordedEvent } from '../src/streams/event-log.js';
import { VectorAgent } from '../src/vector.js';
import { PowerLossFs, PowerLost, rng } from './support/power-loss-fs.js';

const RUNS = Number(process.env.DGENT_POWER_LOSS_RUNS ?? 60);
const base = mkdtempSync(join(tmpdir(), 'dgent-power-loss-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
let dirs = 0;
function freshDir(): string {
  const d = join(base, `d${dirs++}`);
  mkdirSync(d);
  return d;
}

/** Rethrow anything but the simulated power loss (and what the writers wrapped it in). */
function onlyPowerLoss(layer: PowerLossFs, e: unknown): void {
  if (!layer.crashed) throw e;
  let c: unknown = e;
  while (c instanceof Error) {
    if (c instanceof PowerLost) return;
    c = c.cause;
  }
  // a crashed run may fail in other ways only because the layer refused a call: the cause chain
  // says so; anything else is a real failure
  throw e;
}

/** Run `rounds` boots of a workload on one directory, each ending in a power loss; then verify with the plain file system. */
async function boots(
  rounds: readonly number[],
  seed: number,
  boot: (dir: string, layer: PowerLossFs, random: () => number) => Promise<void>,
  verify: (dir: string) => Promise<void>,
): Promise<void> {
  const random = rng(seed);
  let dir = freshDir();
  for (const crashAt of rounds) {
    const layer = new PowerLossFs(dir, crashAt);
    const restore = setFsLayer(layer);
    try {
      await boot(dir, layer, random);
    } catch (e) {
      onlyPowerLoss(layer, e);
    } finally {
      layer.crash();
      restore();
    }
    const next = freshDir();
    layer.image(next, random);
    // verify a copy with the plain file system; the next boot recovers the image itself, under its own crash point
    const copy = freshDir();
    cpSync(next, copy, { recursive: true });
    await verify(copy);
    dir = next;
  }
}

/** Crash points (no bias toward small values: a crash in the first calls only hits the opening). */
const crashPoints = (max: number) => fc.array(fc.noBias(fc.integer({ min: 1, max })), { minLength: 1, maxLength: 3 });
/** The seed of the tear pattern and the workload's choices. */
const seeds = fc.noBias(fc.integer());

interface AgentState {
  n: number;
  pad: string;
}
const RETENTION = 3;

/**
 * The PersistentAgent property: boots with crash points from `roundsArb`, each saving
 * `saves(boot, random)` times; after each power loss the newest acknowledged save (or the one in
 * flight) is loaded, and history() holds the `RETENTION` newest versions.
 */
async function persistentAgentProperty(roundsArb: fc.Arbitrary<number[]>, saves: (boot: number, random: () => number) => number, numRuns: number): Promise<{ inflightKept: number; inflightLost: number }> {
  const seen = { inflightKept: 0, inflightLost: 0 };
  await fc.assert(
    fc.asyncProperty(roundsArb, seeds, async (rounds, seed) => {
      /** n by version, for every version that is committed as far as the test knows */
      const byVersion = new Map<number, number>();
      let acked = 0; // highest acknowledged version
      let inflight: number | undefined; // n of the save in flight at the crash
      let counter = 0;
      let bootNo = 0;
      await boots(
        rounds,
        seed,
        async (dir, layer, random) => {
          const agent = new PersistentAgent<AgentState>({ path: join(dir, 'agent.json'), retention: RETENTION });
          try {
            let v = await agent.version();
            const count = saves(bootNo++, random);
            for (let i = 0; i < count; i++) {
              const n = ++counter;
              inflight = n;
              await agent.save({ n, pad: 'x'.repeat(Math.floor(random() * 1500)) });
              byVersion.set(++v, n);
              acked = v;
              inflight = undefined;
            }
            layer.crash();
          } finally {
            await agent.close().catch(() => undefined);
          }
        },
        async (dir) => {
          const agent = new PersistentAgent<AgentState>({ path: join(dir, 'agent.json'), retention: RETENTION });
          try {
            const v = await agent.version();
            expect(v, 'version after the power loss').toBeGreaterThanOrEqual(acked);
            expect(v).toBeLessThanOrEqual(acked + 1);
            if (v > acked) {
              // the save in flight made it: it is committed from now on
              byVersion.set(v, inflight!);
              acked = v;
              seen.inflightKept++;
            } else if (inflight !== undefined) seen.inflightLost++;
            inflight = undefined;
            if (v > 0) expect((await agent.load()).n).toBe(byVersion.get(v));
            const expected: number[] = [];
            for (let x = v; x >= 1 && expected.length < RETENTION; x--) expected.push(byVersion.get(x)!);
            expect((await agent.history()).map((s) => s.n), 'history, newest first').toEqual(expected);
          } finally {
            await agent.close();
          }
        },
      );
    }),
    { numRuns },
  );
  return seen;
}

describe('PersistentAgent under simulated power loss', () => {
  it('every resolved save survives with its history; the files always open without CorruptionError', async () => {
    // up to 80 saves per boot: enough for the history to be compacted now and then (at retention + 64 lines)
    const seen = await persistentAgentProperty(crashPoints(1000), (_boot, random) => Math.floor(random() * 80), RUNS);
    // the crash points did land inside saves (a save in flight that made it, found by inflightKept,
    // needs a crash between its rename and its directory fsync: too rare a window to require)
    expect(seen.inflightLost).toBeGreaterThan(0);
  }, 300_000);

  it('a power loss around a history compaction loses no retained version', async () => {
    // boot 1 saves 66 times and ends cleanly; boot 2 saves 3 times and compacts in its second
    // save (about 10 file-system calls each), with the power lost at any call of the three
    const rounds = fc.noBias(fc.integer({ min: 1, max: 35 })).map((k) => [Number.MAX_SAFE_INTEGER, k]);
    const seen = await persistentAgentProperty(rounds, (boot) => (boot === 0 ? RETENTION + 63 : 3), Math.ceil(RUNS / 2));
    expect(seen.inflightKept + seen.inflightLost).toBeGreaterThan(0);
  }, 300_000);
});

/**
 * The FileEventLog property: boots with crash points from `roundsArb` appending from concurrent
 * callers (group commits, segment rolls, closes that write the index file); `crashAfterOpen`
 * picks boots that lose power as soon as their open resolved. Returns coverage counts.
 */
async function fileLogProperty(
  roundsArb: fc.Arbitrary<number[]>,
  crashAfterOpen: (boot: number, random: () => number) => boolean,
  numRuns: number,
): Promise<{ tornTails: number; cutThenLost: number; indexUsed: number }> {
  let tornTails = 0;
  let indexUsed = 0;
  let cutThenLost = 0;
  await fc.assert(
    fc.asyncProperty(roundsArb, seeds, async (rounds, seed) => {
      const acked = new Map<string, string>(); // "stream\0revision" -> tag
      let counter = 0;
      let closedCleanly = false; // a close() resolved: its index file was made durable
      let crashedAfterOpen = false; // this boot lost power right after its open resolved
      let openCut = false; // ... and that open had cut a torn tail
      let bootNo = 0;
      const check = async (log: FileEventLog): Promise<void> => {
        const all: RecordedEvent[] = [];
        for await (const e of log.readAll()) all.push(e);
        expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i + 1));
        const revs = new Map<string, number>();
        for (const e of all) {
          const r = (revs.get(e.stream) ?? 0) + 1;
          expect(e.revision, `revision of ${e.stream}`).toBe(r);
          revs.set(e.stream, r);
        }
        const stored = new Map(all.map((e) => [`${e.stream}\0${e.revision}`, (e.data as { tag: string }).tag]));
        for (const [key, tag] of acked) expect(stored.get(key), `acknowledged ${key.replace('\0', '@')}`).toBe(tag);
      };
      await boots(
        rounds,
        seed,
        async (dir, layer, random) => {
          let log = new FileEventLog({ dir, segmentSize: 8192 });
          crashedAfterOpen = false;
          try {
            await log.open();
            openCut = (log.recovery?.truncatedBytes ?? 0) > 0;
            if (openCut) tornTails++;
            if (crashAfterOpen(bootNo++, random)) {
              // power lost as soon as the open (and its recovery) resolved
              crashedAfterOpen = true;
              layer.crash();
              return;
            }
            const steps = Math.floor(random() * 30);
            for (let i = 0; i < steps; i++) {
              if (random() < 0.1) {
                await log.close(); // writes the index file; the next open uses it
                closedCleanly = true;
                log = new FileEventLog({ dir, segmentSize: 8192 });
                await log.open();
              }
              // concurrent appends: group-committed into one write and one fdatasync
              const k = 1 + Math.floor(random() * 3);
              const jobs = Array.from({ length: k }, () => {
                const tag = `t${++counter}`;
                const stream = `s${Math.floor(random() * 3)}`;
                const data = { tag, pad: 'y'.repeat(Math.floor(random() * 2500)) };
                const multi = random() < 0.2;
                const p = multi
                  ? log.appendMany([
                      { stream, events: [{ type: 'E', data }] },
                      { stream: 'm', events: [{ type: 'E', data: { tag: `${tag}m` } }] },
                    ])
                  : log.append(stream, [{ type: 'E', data }]);
                return p.then((results) => {
                  const rs = Array.isArray(results) ? results : [results];
                  acked.set(`${stream}\0${rs[0]!.revision}`, tag);
                  if (multi) acked.set(`m\0${rs[1]!.revision}`, `${tag}m`);
                });
              });
              const outcomes = await Promise.allSettled(jobs);
              for (const o of outcomes) if (o.status === 'rejected') onlyPowerLoss(layer, o.reason);
              if (layer.crashed) return;
            }
            layer.crash();
          } finally {
            await log.close().catch(() => undefined);
          }
        },
        async (dir) => {
          const log = new FileEventLog({ dir, segmentSize: 8192 });
          try {
            await log.open();
            if ((log.recovery?.truncatedBytes ?? 0) > 0) tornTails++;
            // an open that resolved made its recovery durable: nothing is left to cut again
            if (crashedAfterOpen) {
              expect(log.recovery?.truncatedBytes, 'torn tail cut by the last open').toBe(0);
              if (openCut) cutThenLost++;
            }
            // an index file written by a close survives the power loss: no rebuild by scanning
            if (closedCleanly) {
              expect(log.recovery?.rebuiltIndex, 'index file of a clean close').toBe(false);
              indexUsed++;
            }
            await check(log);
            await log.append('after', [{ type: 'E', data: { tag: 'after' } }]);
          } finally {
            await log.close();
          }
          // the append after recovery never makes the log unopenable
          const again = new FileEventLog({ dir, segmentSize: 8192 });
          try {
            await again.open();
            expect(again.recovery?.truncatedBytes).toBe(0);
            await check(again);
          } finally {
            await again.close();
          }
        },
      );
    }),
    { numRuns },
  );
  return { tornTails, cutThenLost, indexUsed };
}

describe('FileEventLog under simulated power loss', () => {
  it('every resolved append survives; the log always opens (a torn tail cut), and stays appendable', async () => {
    const seen = await fileLogProperty(crashPoints(100), (_boot, random) => random() < 0.2, RUNS);
    // the tear model did reach recovery: some power losses left a torn tail that was cut
    expect(seen.tornTails).toBeGreaterThan(0);
    expect(seen.indexUsed).toBeGreaterThan(0);
  }, 300_000);

  it('a power loss right after an open that cut a torn tail finds nothing more to cut', async () => {
    // boot 1 loses power mid-append (often leaving a torn tail); boot 2 opens, cuts it, and loses power at once
    const rounds = fc.noBias(fc.integer({ min: 1, max: 45 })).map((k) => [k, Number.MAX_SAFE_INTEGER]);
    const seen = await fileLogProperty(rounds, (boot) => boot === 1, RUNS * 2);
    expect(seen.cutThenLost).toBeGreaterThan(0);
  }, 300_000);
});

const VECTOR = { engine: 'js', dimension: 4, metric: 'l2' } as const;

describe('vector index file under simulated power loss', () => {
  it('the file always opens and holds at least every resolved save', async () => {
    await fc.assert(
      fc.asyncProperty(crashPoints(120), seeds, async (rounds, seed) => {
        let acked = 0; // items in the last acknowledged save
        let inflight: number | undefined;
        await boots(
          rounds,
          seed,
          async (dir, layer, random) => {
            const path = join(dir, 'v.vec');
            const agent = await VectorAgent.open(path, VECTOR);
            try {
              const saves = Math.floor(random() * 12);
              for (let i = 0; i < saves; i++) {
                const n = await agent.count();
                const more = 1 + Math.floor(random() * 40);
                await agent.upsert(Array.from({ length: more }, (_, j) => ({ id: `i${n + j}`, vector: [random(), random(), random(), 1], data: { n: n + j } })));
                inflight = n + more;
                await agent.save();
                acked = n + more;
                inflight = undefined;
              }
              layer.crash();
            } finally {
              await agent.close().catch(() => undefined);
            }
          },
          async (dir) => {
            const agent = await VectorAgent.open(join(dir, 'v.vec'), VECTOR);
            try {
              const n = await agent.count();
              expect([acked, inflight]).toContain(n);
              if (n > acked) acked = n;
              inflight = undefined;
              if (n > 0) for (const id of ['i0', `i${n - 1}`]) expect((await agent.get(id))?.data, id).toEqual({ n: Number(id.slice(1)) });
            } finally {
              await agent.close();
            }
          },
        );
      }),
      { numRuns: RUNS },
    );
  }, 300_000);
});
