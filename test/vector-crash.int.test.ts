import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { VectorAgent } from '../src/vector.js';
import { engines } from './vector-support.js';

const dir = mkdtempSync(join(tmpdir(), 'dgent-vector-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A writer that upserts 50 vectors and saves, forever, printing the item count after each save. */
function writerScript(engine: string, path: string): string {
  const file = join(dir, `writer-${engine}.mts`);
  writeFileSync(
    file,
    `import { VectorAgent } from ${JSON.stringify(resolve('src/vector.ts'))};
     const a = new VectorAgent({ dimension: 32, metric: 'cosine', index: 'HNSW', engine: ${JSON.stringify(engine)}, path: ${JSON.stringify(path)} });
     for (let round = await a.count() / 50; ; round++) {
       await a.upsert(Array.from({ length: 50 }, (_, i) => ({ id: 'r' + round + '-' + i, vector: Array.from({ length: 32 }, () => Math.random() - 0.5), data: { round } })));
       await a.save();
       process.stdout.write((await a.count()) + '\\n');
     }`,
  );
  return file;
}

it.each(engines)('save survives SIGKILL at random moments (engine %s): the file always opens with every acknowledged save', async (engine) => {
  const path = join(dir, `crash-${engine}.vec`);
  const script = writerScript(engine, path);
  let acknowledged = 0;
  for (let kill = 0; kill < 6; kill++) {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const target = acknowledged + 100 + Math.floor(Math.random() * 200);
    await new Promise<void>((res, rej) => {
      let buf = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) acknowledged = Math.max(acknowledged, Number(l));
        // kill mid-run, usually while a save is in flight
        if (acknowledged >= target) setTimeout(() => child.kill('SIGKILL'), Math.random() * 20);
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? res() : rej(new Error(`writer exited with ${code}`))));
    });
    const a = await VectorAgent.open(path, { engine });
    const n = await a.count();
    expect(n).toBeGreaterThanOrEqual(acknowledged);
    expect(n % 50).toBe(0);
    const [hit] = await a.search((await a.get('r0-0'))!.vector, { k: 1 });
    expect(hit!.id).toBe('r0-0');
    acknowledged = n;
  }
}, 180_000);
