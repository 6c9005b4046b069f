/**
 * Agents beside the raw operation each one wraps:
 * - VolatileAgent load vs an `async` function returning a value from a Map (target >= 0.5x)
 * - VolatileAgent save vs Map set + structuredClone (the copy a save must make)
 * - CachedAgent hit (VolatileAgent cache over PersistentAgent) vs VolatileAgent load (target >= 0.5x)
 * - PersistentAgent save vs the raw durable sequence writeFile(temp) + fsync + rename + fsync(dir)
 *   of the same encoded state (target >= 0.8x), in alternating short rounds (see paired.ts): disk
 *   speed on a shared machine changes from second to second
 * and update throughput of each. Files go to a temp directory (DGENT_BENCH_DIR to choose the disk).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode, PersistentAgent, VolatileAgent } from '../src/index.js';
// not yet exported from src/index.ts when this bench was written
import { CachedAgent } from '../src/index.js';
import { measure, report, type CaseResult, type Comparison } from './lib.js';
import { paired } from './paired.js';

type State = { turns: { role: string; text: string; at: number }[]; tools: string[]; step: number };

/** A typical agent state: a short conversation and some bookkeeping (~2 KB encoded). */
function sampleState(step = 16): State {
  return {
    turns: Array.from({ length: 16 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: `message ${i} `.repeat(8), at: 1_700_000_000_000 + i })),
    tools: ['search', 'calculator', 'browser'],
    step,
  };
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.DGENT_BENCH_DIR ?? tmpdir(), 'dgent-bench-agents-'));
  const cases: CaseResult[] = [];
  const comparisons: Comparison[] = [];
  const MEM = 200_000;
  const DISK = 200;
  const ROUND = 20; // disk operations per alternating round
  try {
    // --- in memory: load ------------------------------------------------------------------
    const map = new Map<string, State>([['k', sampleState()]]);
    const mapGet = async (k: string): Promise<State | undefined> => map.get(k);
    const rawGet = await measure('raw: async Map get', MEM, async () => {
      for (let i = 0; i < MEM; i++) await mapGet('k');
    });
    const volatile = new VolatileAgent<State>({ maxHistory: 1 });
    await volatile.save(sampleState());
    const volLoad = await measure('VolatileAgent load', MEM, async () => {
      for (let i = 0; i < MEM; i++) await volatile.load();
    });

    const backend = new PersistentAgent<State>({ path: join(dir, 'cached.json') });
    const cached = new CachedAgent<State>({ cache: new VolatileAgent({ maxHistory: 1 }), backend });
    await cached.save(sampleState());
    const hit = await measure('CachedAgent load (hit, over PersistentAgent)', MEM, async () => {
      for (let i = 0; i < MEM; i++) await cached.load();
    });

    // --- in memory: save and update ----------------------------------------------------------
    const SAVES = MEM / 10;
    const fresh = Array.from({ length: 64 }, (_, i) => sampleState(i));
    const rawSet = await measure('raw: Map set + structuredClone', SAVES, async () => {
      for (let i = 0; i < SAVES; i++) map.set('k', structuredClone(fresh[i & 63]!));
    });
    const volSave = await measure('VolatileAgent save', SAVES, async () => {
      for (let i = 0; i < SAVES; i++) await volatile.save(fresh[i & 63]!);
    });
    const volUpdate = await measure('VolatileAgent update (step += 1)', SAVES, async () => {
      for (let i = 0; i < SAVES; i++) await volatile.update((s) => void (s.step += 1));
    });
    const behind = new CachedAgent<State>({ cache: new VolatileAgent({ maxHistory: 1 }), backend: new VolatileAgent({ maxHistory: 1 }), strategy: 'write-behind', coalesce: true });
    const behindSave = await measure('CachedAgent write-behind save (coalesced, over VolatileAgent)', SAVES, async () => {
      for (let i = 0; i < SAVES; i++) await behind.save(fresh[i & 63]!);
      await behind.flush();
    });
    await behind.close();

    // --- on disk ------------------------------------------------------------------------------
    const text = encode(sampleState());
    const rawPath = join(dir, 'raw.json');
    const dirHandle = await open(dir, 'r');
    let n = 0;
    const persistent = new PersistentAgent<State>({ path: join(dir, 'agent.json') });
    const state = sampleState();
    const [rawDurable, pSave] = await paired([
      [
        'raw: writeFile(temp) + fsync + rename + fsync(dir)',
        ROUND,
        async () => {
          for (let i = 0; i < ROUND; i++) {
            const tmp = join(dir, `.raw.${n++}.tmp`);
            const fh = await open(tmp, 'w');
            await fh.writeFile(text);
            await fh.sync();
            await fh.close();
            await rename(tmp, rawPath);
            await dirHandle.sync();
          }
        },
      ],
      [
        'PersistentAgent save',
        ROUND,
        async () => {
          for (let i = 0; i < ROUND; i++) await persistent.save(state);
        },
      ],
    ]);
    await dirHandle.close();
    const pLoad = await measure('PersistentAgent load', MEM / 10, async () => {
      for (let i = 0; i < MEM / 10; i++) await persistent.load();
    });
    const pUpdate = await measure('PersistentAgent update (step += 1)', DISK, async () => {
      for (let i = 0; i < DISK; i++) await persistent.update((s) => void (s.step += 1));
    });
    const cachedSave = await measure('CachedAgent write-through save (over PersistentAgent)', DISK, async () => {
      for (let i = 0; i < DISK; i++) await cached.save(state);
    });
    const cachedUpdate = await measure('CachedAgent update (over PersistentAgent)', DISK, async () => {
      for (let i = 0; i < DISK; i++) await cached.update((s) => void (s.step += 1));
    });
    await persistent.close();
    await cached.close();

    cases.push(rawGet, volLoad, hit, rawSet, volSave, volUpdate, behindSave, rawDurable, pSave, pLoad, pUpdate, cachedSave, cachedUpdate);
    comparisons.push(
      { label: 'VolatileAgent load vs async Map get', subject: volLoad, baseline: rawGet, target: 0.5 },
      { label: 'VolatileAgent save vs Map set + structuredClone', subject: volSave, baseline: rawSet },
      { label: 'CachedAgent hit vs VolatileAgent load', subject: hit, baseline: volLoad, target: 0.5 },
      { label: 'PersistentAgent save vs writeFile+fsync+rename+fsync(dir)', subject: pSave, baseline: rawDurable, target: 0.8 },
      { label: 'CachedAgent write-through save vs PersistentAgent save', subject: cachedSave, baseline: pSave },
    );
    report('agents', cases, comparisons);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
