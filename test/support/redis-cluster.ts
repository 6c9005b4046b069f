/**
 * A throw-away Redis Cluster for tests: three masters and three replicas, each a `redis-server
 * --cluster-enabled yes` child process on a free loopback port with its data in a temporary
 * directory (no RDB, no AOF), joined with `redis-cli --cluster create ... --cluster-replicas 1`.
 * `stop()` kills exactly these six processes and removes the directory. The shared Redis on 6379
 * is never touched.
 *
 * `startRedisCluster()` resolves to undefined, with the reason, when this machine cannot run one
 * (no redis-server / redis-cli, or the cluster does not come up): the cluster tests skip with it
 * (and fail under CI=true).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';

const run = promisify(execFile);

export interface ClusterNode {
  port: number;
  process: ChildProcess;
}

export interface RedisCluster {
  nodes: readonly ClusterNode[];
  /** `[{ host, port }]` of every node, for `new Cluster(startupNodes)` */
  startupNodes: { host: string; port: number }[];
  /** a new ioredis Cluster client (close it yourself) */
  client(options?: ConstructorParameters<typeof Cluster>[1]): Cluster;
  /** a plain connection to one node */
  node(port: number): Redis;
  /** port of the master serving `key`'s slot now */
  masterOf(key: string): Promise<number>;
  /**
   * Promote a replica of the master serving `key` with `CLUSTER FAILOVER` (the coordinated manual
   * failover: the master stops writes until the replica has caught up) and wait until every node
   * agrees on the new master. Resolves to `{ from, to }` ports.
   */
  failover(key: string): Promise<{ from: number; to: number }>;
  stop(): Promise<void>;
}

/** Two free ports apart by 10000 (a cluster node also listens on port + 10000, its bus). */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (taken.has(port) || taken.has(port + 10_000)) continue;
    if ((await portFree(port)) && (await portFree(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
  throw new Error('no free port pair for a cluster node');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function waitListening(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new Error(`redis-server on ${port} exited with ${child.exitCode}`));
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`redis-server on ${port} did not start listening`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it is true (generous: a loaded CI machine). */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Master port -> replica ports, and slot ranges, as one node sees them (CLUSTER NODES). */
async function topology(r: Redis): Promise<{ masters: Map<string, { port: number; slots: [number, number][] }>; replicas: Map<string, number[]>; ok: boolean }> {
  const text = (await r.call('CLUSTER', 'NODES')) as string;
  const masters = new Map<string, { port: number; slots: [number, number][] }>();
  const replicas = new Map<string, number[]>();
  let ok = true;
  for (const line of text.trim().split('\n')) {
    const f = line.split(' ');
    const [id, addr, flags, masterId, , , , link] = f;
    const port = Number(addr!.split('@')[0]!.split(':')[1]);
    if (/fail|handshake|noaddr/.test(flags!) || link !== 'connected') ok = false;
    if (flags!.includes('master')) {
      const slots = f.slice(8).filter((s) => !s.startsWith('[')).map((s) => s.split('-').map(Number) as [number, number?]).map(([a, b]) => [a, b ?? a] as [number, number]);
      masters.set(id!, { port, slots });
    } else if (flags!.includes('slave')) {
      replicas.set(masterId!, [...(replicas.get(masterId!) ?? []), port]);
    }
  }
  return { masters, replicas, ok };
}

/**
 * Start the cluster, or resolve to `{ reason }` when this machine cannot (no redis-server or
 * redis-cli on the PATH, or the cluster never reported `cluster_state:ok`).
 */
export async function startRedisCluster(): Promise<RedisCluster | { reason: string }> {
  try {
    await run('redis-server', ['--version']);
    await run('redis-cli', ['--version']);
  } catch (e) {
    return { reason: `redis-server / redis-cli not runnable here: ${(e as Error).message}` };
  }
  const dir = await mkdtemp(join(tmpdir(), 'dgent-redis-cluster-'));
  const taken = new Set<number>();
  const nodes: ClusterNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      nodes.map(
        (n) =>
          new Promise<void>((resolve) => {
            if (n.process.exitCode !== null || n.process.signalCode !== null) return resolve();
            n.process.once('exit', () => resolve());
            n.process.kill('SIGKILL');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort(taken);
      const child = spawn(
        'redis-server',
        [
          '--cluster-enabled', 'yes',
          '--port', String(port),
          '--bind', '127.0.0.1',
          '--cluster-config-file', join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout', '5000',
          '--dir', dir,
          '--save', '',
          '--appendonly', 'no',
          '--daemonize', 'no',
          '--logfile', join(dir, `redis-${port}.log`),
        ],
        { stdio: 'ignore' },
      );
      nodes.push({ port, process: child });
    }
    await Promise.all(nodes.map((n) => waitListening(n.port, n.process, 20_000)));
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 60_000 });
    const conns = nodes.map((n) => new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: false, maxRetriesPerRequest: 1 }));
    try {
      await until(async () => {
        for (const c of conns) {
          const info = (await c.call('CLUSTER', 'INFO')) as string;
          if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info) || !/cluster_known_nodes:6/.test(info)) return false;
          const t = await topology(c);
          if (!t.ok || t.masters.size !== 3 || [...t.masters.keys()].some((m) => (t.replicas.get(m) ?? []).length !== 1)) return false;
        }
        // replicas have finished their first sync
        for (const c of conns) {
          const role = (await c.call('ROLE')) as unknown[];
          if (role[0] === 'slave' && role[3] !== 'connected') return false;
        }
        return true;
      }, 'the cluster to converge');
    } finally {
      for (const c of conns) c.disconnect();
    }
  } catch (e) {
    await stop();
    return { reason: `cannot start a Redis Cluster here: ${(e as Error).message}` };
  }

  const startupNodes = nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
  const node = (port: number): Redis => {
    const r = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
    r.on('error', () => undefined); // a killed node: the call fails, no unhandled error event
    return r;
  };
  const withNode = async <T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> => {
    const r = node(port);
    try {
      return await fn(r);
    } finally {
      r.disconnect();
    }
  };
  // ask a node that is still running (a test may have killed one)
  const alive = (): number => nodes.find((n) => n.process.exitCode === null && n.process.signalCode === null)!.port;
  const slotOwner = async (key: string): Promise<{ master: number; replicas: number[] }> =>
    withNode(alive(), async (r) => {
      const slot = Number(await r.call('CLUSTER', 'KEYSLOT', key));
      const t = await topology(r);
      for (const [id, m] of t.masters) {
        if (m.slots.some(([a, b]) => slot >= a && slot <= b)) return { master: m.port, replicas: t.replicas.get(id) ?? [] };
      }
      throw new Error(`no master serves slot ${slot}`);
    });

  return {
    nodes,
    startupNodes,
    client: (options) => new Cluster(startupNodes, options),
    node,
    masterOf: async (key) => (await slotOwner(key)).master,
    async failover(key) {
      const { master, replicas } = await slotOwner(key);
      const to = replicas[0];
      if (to === undefined) throw new Error(`the master on ${master} has no replica`);
      await withNode(to, (r) => r.call('CLUSTER', 'FAILOVER'));
      // every node agrees: `to` is master, `master` a replica of it, no link in trouble
      await until(
        async () => {
          for (const n of nodes) {
            const seen = await withNode(n.port, async (r) => {
              const t = await topology(r);
              const m = [...t.masters.entries()].find(([, v]) => v.port === to);
              return t.ok && m !== undefined && m[1].slots.length > 0 && (t.replicas.get(m[0]) ?? []).includes(master);
            });
            if (!seen) return false;
          }
          return withNode(master, async (r) => ((await r.call('ROLE')) as unknown[])[3] === 'connected');
        },
        `the failover ${master} -> ${to}`,
      );
      return { from: master, to };
    },
    stop,
  };
}
