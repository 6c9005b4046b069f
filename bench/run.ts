/**
 * `npm run bench [name...]`: runs every benchmark in bench/ (or the named ones) one after another.
 * Each prints a table and writes bench/results/<name>.json.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();
for (const f of files) {
  console.log(`\n# ${f}`);
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { main?: () => Promise<void> };
  if (mod.main) await mod.main();
}
