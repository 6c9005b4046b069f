/**
 * A temporary project for the missing-driver tests: a copy of the current sources and a
 * node_modules that links every installed package except `missing`, so that importing an entry
 * there behaves as in a user's project without those optional drivers.
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function linkPackages(from: string, to: string, missing: ReadonlySet<string>, scope = ''): void {
  mkdirSync(to, { recursive: true });
  for (const name of readdirSync(from)) {
    if (name.startsWith('.')) continue; // .bin, .package-lock.json, ...
    const full = scope ? `${scope}/${name}` : name;
    if (!scope && name.startsWith('@')) {
      linkPackages(join(from, name), join(to, name), missing, name);
      continue;
    }
    if (missing.has(full)) continue;
    symlinkSync(join(from, name), join(to, name));
  }
}

/** Make the project in a new temp dir named after `prefix`; returns its path (the caller removes it). */
export function makeProjectWithout(missing: ReadonlySet<string>, prefix: string): string {
  const project = mkdtempSync(join(tmpdir(), prefix));
  cpSync(join(ROOT, 'src'), join(project, 'src'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'no-drivers', type: 'module', private: true }));
  linkPackages(join(ROOT, 'node_modules'), join(project, 'node_modules'), missing);
  return project;
}
