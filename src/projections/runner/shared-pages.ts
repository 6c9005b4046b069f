/**
 * Pages of the log shared by the rebuilds that read it at the same time: rebuilding the three
 * keyed views together read and decoded the whole log three times (a third of the rebuild's time
 * in a CPU profile); now the rebuilds running side by side read each page once. Only full pages
 * are kept for later readers (a full page is a complete read of its positions, so handing it out
 * again equals reading it again); a short page is shared only with readers waiting for it
 * already. A few pages at most, dropped shortly after the last use.
 */
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';

const KEEP = 32;
const IDLE_MS = 5000;

interface Pages {
  map: Map<string, Promise<readonly RecordedEvent[]>>;
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
  let page = p.map.get(key);
  if (!page) {
    page = read(log, from, limit);
    p.map.set(key, page);
    if (p.map.size > KEEP) p.map.delete(p.map.keys().next().value!);
    const forget = (): void => void (p.map.get(key) === page && p.map.delete(key));
    page.then((events) => events.length < limit && forget(), forget);
  }
  if (p.timer) clearTimeout(p.timer);
  p.timer = setTimeout(() => p.map.clear(), IDLE_MS);
  p.timer.unref?.();
  return page;
}
