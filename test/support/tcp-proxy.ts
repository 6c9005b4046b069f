/**
 * A TCP proxy for fault tests: sits between a client and a real server, and can cut every
 * connection (and refuse new ones), stall traffic without closing (a black hole), or pass again.
 */
import net from 'node:net';

/** A running proxy: `url(original)` rewrites a service URL to go through it. */
export interface TcpProxy {
  readonly port: number;
  /** the same URL with host:port replaced by the proxy's */
  url(original: string): string;
  /** destroy every open connection and refuse new ones until `restore()` */
  cut(): void;
  /** keep connections open but stop forwarding bytes (and accept-but-stall new ones) until `restore()` */
  blackhole(): void;
  /** forward again (connections cut earlier stay closed; stalled ones resume) */
  restore(): void;
  /** connections currently open through the proxy */
  readonly connections: number;
  close(): Promise<void>;
}

/** Start a proxy on a free local port forwarding to `target` (host:port of a URL). */
export async function startTcpProxy(targetUrl: string): Promise<TcpProxy> {
  const t = new URL(targetUrl);
  const target = { host: t.hostname, port: Number(t.port || 5432) };
  let mode: 'pass' | 'cut' | 'blackhole' = 'pass';
  const pairs = new Set<{ a: net.Socket; b: net.Socket; held: [net.Socket, Buffer][] }>();

  const server = net.createServer((client) => {
    if (mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(target);
    const pair = { a: client, b: upstream, held: [] as [net.Socket, Buffer][] };
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    const forward = (from: net.Socket, to: net.Socket) => (d: Buffer) => {
      if (mode === 'pass') to.write(d);
      else {
        // a chunk already read when the hole opened is held, not lost: restore() delivers it in order
        pair.held.push([to, d]);
        from.pause();
      }
    };
    client.on('data', forward(client, upstream));
    upstream.on('data', forward(upstream, client));
    if (mode === 'blackhole') {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const proxy: TcpProxy = {
    port,
    url(original: string) {
      const u = new URL(original);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    cut() {
      mode = 'cut';
      for (const p of pairs) {
        p.a.destroy();
        p.b.destroy();
      }
      pairs.clear();
    },
    blackhole() {
      mode = 'blackhole';
      for (const p of pairs) {
        p.a.pause();
        p.b.pause();
      }
    },
    restore() {
      mode = 'pass';
      for (const p of pairs) {
        for (const [to, d] of p.held.splice(0)) to.write(d);
        p.a.resume();
        p.b.resume();
      }
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      proxy.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
