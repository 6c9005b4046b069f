/**
 * The inspector's HTTP server: 127.0.0.1 only, a free port unless one is asked for, GET only, and
 * only for Host headers naming this address (a web page elsewhere cannot reach it through DNS
 * rebinding). It serves the built front end (dist/ui) and the read-only API (api.ts).
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EventLog } from '../../streams/event-log.js';
import type { BackendTarget } from '../../open/backend-url.js';
import { answer, type ViewsApi } from './api.js';

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

/** Where the built front end is: dist/ui beside dist/cli, or the package's dist/ui when run from src. */
export function uiRoot(): string | undefined {
  for (const rel of ['../../ui/', '../../../dist/ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

/** A running inspector. */
export interface Inspector {
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Start the inspector on 127.0.0.1 (port 0: a free one). */
export async function startInspector(log: EventLog, target: BackendTarget, root: string, port = 0, views?: () => Promise<ViewsApi>): Promise<Inspector> {
  let origin = '';
  const server = createServer((req, res) => {
    const host = req.headers.host ?? '';
    if (host !== origin && host !== origin.replace('127.0.0.1', 'localhost')) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('wrong host');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only');
      return;
    }
    const u = new URL(req.url ?? '/', `http://${host}`);
    const common = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };
    if (u.pathname.startsWith('/api/')) {
      void answer(log, target, u.pathname, u.searchParams, views).then((a) => {
        res.writeHead(a.status, { ...common, 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      });
      return;
    }
    const file = normalize(join(root, u.pathname === '/' ? 'index.html' : decodeURIComponent(u.pathname)));
    if (!file.startsWith(root.endsWith(sep) ? root : root + sep) || !existsSync(file)) {
      res.writeHead(404, { ...common, 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { ...common, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  origin = `127.0.0.1:${bound}`;
  return {
    url: `http://${origin}/`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
