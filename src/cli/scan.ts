/** One pass over a log gathering per-stream facts (streams, stats): the log API has no stream index. */
import type { EventLog } from '../streams/event-log.js';

/** What one pass learns about a stream. */
export interface StreamFacts {
  stream: string;
  events: number;
  /** highest revision seen */
  revision: number;
  firstTime: Date;
  lastTime: Date;
  lastType: string;
  lastPosition: number;
}

/** Every stream of the log (optionally only names starting with `prefix`), in name order. */
export async function scanStreams(log: EventLog, prefix?: string, onEvent?: (n: number) => void): Promise<StreamFacts[]> {
  const facts = new Map<string, StreamFacts>();
  let n = 0;
  for await (const e of log.readAll()) {
    onEvent?.(++n);
    if (prefix !== undefined && !e.stream.startsWith(prefix)) continue;
    const f = facts.get(e.stream);
    if (!f) facts.set(e.stream, { stream: e.stream, events: 1, revision: e.revision, firstTime: e.time, lastTime: e.time, lastType: e.type, lastPosition: e.position });
    else {
      f.events++;
      f.revision = Math.max(f.revision, e.revision);
      f.lastTime = e.time;
      f.lastType = e.type;
      f.lastPosition = e.position;
    }
  }
  return [...facts.values()].sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
}
