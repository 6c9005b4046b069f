/**
 * `dgent stats [url] [--views]`: events, streams, first and last times, rates (overall and over
 * the last minute), bytes on disk for SQLite and file logs, and with --views the Store views'
 * projection lag.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog, withStore } from '../backend.js';
import { resolveTarget } from '../../open/env.js';
import type { BackendTarget } from '../../open/backend-url.js';

function bytesOf(t: BackendTarget): number | null {
  try {
    if (t.kind === 'sqlite') return [t.path, `${t.path}-wal`, `${t.path}-shm`].reduce((n, p) => n + (statSafe(p) ?? 0), 0);
    if (t.kind === 'file') return readdirSync(t.dir).reduce((n, f) => n + (statSafe(join(t.dir, f)) ?? 0), 0);
  } catch {
    return null;
  }
  return null;
}

function statSafe(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}

function human(n: number | null): string {
  if (n === null) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function statsCommand() {
  return command('stats', 'sizes and rates of a log (and projection lag with --views)')
    .argument('[url]', 'backend URL')
    .option('--views', "also report the Store views' projection lag (opens a Store on the log)")
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const u = chosenUrl(url, options);
      const target = resolveTarget(u, 'log');
      const facts = await withLog(
        u,
        async (log) => {
          const streams = new Set<string>();
          let events = 0;
          let first: Date | undefined;
          let lastTime: Date | undefined;
          let lastPosition = 0;
          const recent: number[] = [];
          const types = new Map<string, number>();
          for await (const e of log.readAll()) {
            events++;
            streams.add(e.stream);
            first ??= e.time;
            lastTime = e.time;
            lastPosition = e.position;
            types.set(e.type, (types.get(e.type) ?? 0) + 1);
            recent.push(e.time.getTime());
            if (recent.length > 100_000) recent.splice(0, 50_000);
          }
          const now = Date.now();
          const lastMinute = recent.filter((t) => t > now - 60_000).length;
          const spanS = first && lastTime ? (lastTime.getTime() - first.getTime()) / 1000 : 0;
          return {
            backend: target.kind,
            events,
            streams: streams.size,
            lastPosition,
            firstTime: first?.toISOString() ?? null,
            lastTime: lastTime?.toISOString() ?? null,
            eventsPerSecond: spanS > 0 ? Math.round((events / spanS) * 100) / 100 : null,
            eventsLastMinute: lastMinute,
            bytes: bytesOf(target),
            types: Object.fromEntries([...types].sort((a, b) => b[1] - a[1])),
          };
        },
        { readOnly: true },
      );
      const views = options.views
        ? await withStore(u, async (store) => (await store.status()).views.map((v) => ({ name: v.name, mode: v.mode, state: v.state, position: v.position, lagEvents: v.lagEvents, lagMs: v.lagMs })), { existing: true })
        : undefined;
      if (out.json) return out.data(views ? { ...facts, views } : facts);
      const rows: [string, string][] = [
        ['backend', facts.backend],
        ['events', String(facts.events)],
        ['streams', String(facts.streams)],
        ['last position', String(facts.lastPosition)],
        ['first event', facts.firstTime ?? '-'],
        ['last event', facts.lastTime ?? '-'],
        ['events/s (first to last)', facts.eventsPerSecond === null ? '-' : String(facts.eventsPerSecond)],
        ['events in the last minute', String(facts.eventsLastMinute)],
        ['size', human(facts.bytes)],
      ];
      for (const [k, v] of rows) out.line(`${out.c.bold(k.padEnd(26))} ${v}`);
      if (views) {
        out.line();
        out.table(['VIEW', 'MODE', 'STATE', 'POSITION', 'LAG EVENTS', 'LAG MS'], views.map((v) => [v.name, v.mode, v.state, String(v.position), String(v.lagEvents), String(v.lagMs)]));
      }
    });
}
