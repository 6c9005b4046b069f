/**
 * Pages of the log shared by the rebuilds that read it at the same time: rebuilding the three
 * keyed views together read and decoded the whole log three times (a third of the rebuild's time
 * in a CPU profile); now the rebuilds running side by side read each page once. Only full pages
 * are kept for later readers (a full page is a complete read of its positions, so handing it out
 * again equals reading it again); a short page is shared only with readers waiting for it
 * already. A few pages at most, each handed out for 2 s after its read only: a later rebuild reads
 * the log again (it must see erasures made since, for one).
 */
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';

const KEEP = 32;
const FRESH_MS = 2000;

interface Pages {
  map: Map<string, { page: Promise<readonly RecordedEvent[]>; at: number }>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const byLog = new WeakMap<EventLog, Pages>();

async function read(log: EventLog, from: number, limit: number): Promise<readonly RecordedEvent[]> {
  const page: RecordedEvent[] = [];
  for await (const e of log.readAll({ fromPosition: from, limit })) page.push(e);
  return page;
}

/** The events after `from` (at most `limit`), shared with concurrent readers of the same page. */
export function readPage(log: EventLog, from: number, limit: number): Promise<readonly RecordedEvent[]> {
  let pages = byLog.get(log);
  if (!pages) byLog.set(log, (pages = { map: new Map(), timer: undefined }));
  const p = pages;
  const key = `${from}:${limit}`;
  const now = Date.now();
  const hit = p.map.get(key);
  if (hit && now - hit.at <= FRESH_MS) return hit.page;
  const entry = { page: read(log, from, limit), at: now };
  p.map.delete(key);
  p.map.set(key, entry);
  if (p.map.size > KEEP) p.map.delete(p.map.keys().next().value!);
  const forget = (): void => void (p.map.get(key) === entry && p.map.delete(key));
  // fresh from when the read completed (shared for the whole read while it is in flight)
  entry.page.then((events) => (events.length < limit ? forget() : void (entry.at = Date.now())), forget);
  if (p.timer) clearTimeout(p.timer);
  p.timer = setTimeout(() => p.map.clear(), FRESH_MS);
  p.timer.unref?.();
  return entry.page;
}
