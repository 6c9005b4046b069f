/**
 * Throwaway PostgreSQL and Redis servers for failover tests: servers of the test's own, on free
 * loopback ports, that it may stop (cleanly or with SIGKILL / `pg_ctl -m immediate`) and start
 * again on the same port and data. The shared services are never touched.
 *
 * - Redis: `redis-server` as a child process, with an append-only file fsynced on every write
 *   (`--appendonly yes --appendfsync always`) in a temporary directory, so a restart keeps what
 *   it acknowledged, as a production Redis behind a failover would.
 * - PostgreSQL: `initdb` into a temporary directory and `pg_ctl start/stop`, as the current user,
 *   or as `postgres` (through `runuser`) when running as root, which initdb refuses.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A server the test owns. */
export interface ThrowawayServer {
  readonly port: number;
  /** a connection URL (postgres://... or redis://...) */
  readonly url: string;
  /** stop it: 'clean' (SIGTERM / pg_ctl -m fast) or 'kill' (SIGKILL / pg_ctl -m immediate) */
  stop(how?: 'clean' | 'kill'): Promise<void>;
  /** start it again on the same port, with its data */
  start(): Promise<void>;
  /** stop it and delete its data */
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Wait until the port accepts connections (or refuses them, `up = false`); bounded by attempts, not by a clock. */
async function waitPort(port: number, up: boolean, attempts = 600): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if ((await connects(port)) === up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not ${up ? 'open' : 'close'}`);
}

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/** A redis-server child process of this test. */
export async function startRedis(): Promise<ThrowawayServer> {
  const dir = mkdtempSync(join(tmpdir(), 'dgent-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const c = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--daemonize', 'no'], { stdio: 'ignore' });
    child = c;
    await waitPort(port, true);
  };
  const stop = async (how: 'clean' | 'kill' = 'clean'): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    await exited;
    child = undefined;
    await waitPort(port, false);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      await stop('kill');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql, if any. */
export function postgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** A PostgreSQL cluster of this test: initdb into a temporary directory, pg_ctl start/stop. */
export async function startPostgres(): Promise<ThrowawayServer> {
  const bin = postgresBin();
  if (!bin) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
  const asRoot = process.getuid?.() === 0;
  const dir = mkdtempSync(join(tmpdir(), 'dgent-pg-'));
  const data = join(dir, 'data');
  const run = (cmd: string, args: string[]): void => {
    const r = asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args], { encoding: 'utf8' }) : spawnSync(join(bin, cmd), args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`);
  };
  if (asRoot) {
    const pg = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(pg.stdout.trim()), Number(gid.stdout.trim()));
  }
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  const port = await freePort();
  const opts = `-p ${port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off`;
  const start = async (): Promise<void> => {
    run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start']);
    await waitPort(port, true);
  };
  let up = false;
  const stop = async (how: 'clean' | 'kill' = 'clean'): Promise<void> => {
    if (!up) return;
    run('pg_ctl', ['-D', data, '-m', how === 'kill' ? 'immediate' : 'fast', '-w', 'stop']);
    up = false;
    await waitPort(port, false);
  };
  await start();
  up = true;
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    async start() {
      await start();
      up = true;
    },
    async close() {
      await stop('kill').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
