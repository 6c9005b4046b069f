/**
 * Where the integration tests find PostgreSQL and Redis: DGENT_POSTGRES_URL / DGENT_REDIS_URL,
 * defaulting to the local services. Under CI=true an unreachable service fails the test run;
 * elsewhere the tests that need it are skipped with a loud message.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { IN_CI } from '../../src/testing/ci.js';

export const POSTGRES_URL = process.env.DGENT_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.DGENT_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Is this a CI run: the one definition, shared with the exported suites and test/vector-support.ts. */
export { IN_CI };

/** TCP reachability of a URL's host:port (a quick probe before the driver's own connect). */
export function reachable(url: string, timeoutMs = 1500): Promise<boolean> {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol.startsWith('redis') ? 6379 : 5432));
  return new Promise((resolve) => {
    const s = net.connect({ host: u.hostname, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Resolve whether a service is available for this test file. Under CI an unreachable service throws
 * (the run fails); otherwise it warns loudly and returns false so the caller can `describe.skipIf`.
 */
export async function requireService(name: 'PostgreSQL' | 'Redis', url: string): Promise<boolean> {
  if (await reachable(url)) return true;
  const msg = `${name} is not reachable at ${url}`;
  if (IN_CI) throw new Error(`${msg} (CI=true: an unreachable service is a failure, not a skip)`);
  console.warn(`\n\n!!! ${msg}: SKIPPING the ${name} integration tests. Set DGENT_${name === 'Redis' ? 'REDIS' : 'POSTGRES'}_URL or start the service.\n\n`);
  return false;
}

/** A unique lower-case identifier for a test's schema / key prefix / table. */
export function uniqueName(prefix = 't'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}
