/**
 * The major of the `keyv` package installed beside dgent, which sets `KeyvDgent`'s default
 * `keyvVersion`: on Node < 22.19, `npm install keyv` gets Keyv 5 (Keyv 6 needs Node >= 22.19), and
 * an adapter speaking Keyv 6 to it fails every `set` with a ttl (Keyv turns the error into an
 * `'error'` event and returns false). Found the way Node finds the peer: `keyv/package.json` in the
 * node_modules folders from this module up (keyv does not export its package.json, so it is read
 * from disk, not required), then from the working directory; read once per process.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

let cached: 5 | 6 | undefined | null = null;

/** 5 or 6 for the keyv installed where dgent (or else the working directory) resolves it; undefined when none is, or another major. */
export function installedKeyvMajor(): 5 | 6 | undefined {
  if (cached === null) cached = detect();
  return cached;
}

function detect(): 5 | 6 | undefined {
  for (const from of [import.meta.url, join(process.cwd(), 'noop.js')]) {
    let paths: string[] | null;
    try {
      paths = createRequire(from).resolve.paths('keyv');
    } catch {
      continue;
    }
    for (const dir of paths ?? []) {
      let text: string;
      try {
        text = readFileSync(join(dir, 'keyv', 'package.json'), 'utf8');
      } catch {
        continue; // not installed in this node_modules: Node looks one folder up
      }
      return majorOf(text);
    }
  }
  return undefined;
}

function majorOf(text: string): 5 | 6 | undefined {
  try {
    const version = (JSON.parse(text) as { version?: unknown }).version;
    const major = typeof version === 'string' ? Number.parseInt(version, 10) : NaN;
    return major === 5 || major === 6 ? major : undefined;
  } catch {
    return undefined;
  }
}
