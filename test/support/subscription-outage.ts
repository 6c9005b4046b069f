/**
 * The outage every network event log's subscriptions must ride out (PostgreSQL, Redis): the
 * subscriber's connections go through `proxy`, another log (`writer`, as another process) appends
 * while the proxy is cut, and once it is restored the subscriber delivers what was appended
 * meanwhile and what comes after, in order and exactly once, without `done` ever settling.
 */
import { expect } from 'vitest';
import { sleep } from '../../src/core/mutex.js';
import type { EventLog } from '../../src/streams/event-log.js';
import { waitFor } from '../../src/testing/event-log-support.js';
import type { TcpProxy } from './tcp-proxy.js';

export async function expectSubscriptionRidesOutOutage(log: EventLog, writer: EventLog, proxy: TcpProxy): Promise<void> {
  await writer.append('s', [{ type: 'A', data: 1 }]);
  const seen: number[] = [];
  const sub = log.subscribe({}, (e) => void seen.push(e.data as number));
  let ended: unknown = 'running';
  sub.done.then(
    () => (ended = 'resolved'),
    (e: unknown) => (ended = e),
  );
  await waitFor(() => seen.length === 1, 15_000, 'the first event');
  proxy.cut();
  for (let i = 2; i <= 6; i++) await writer.append('s', [{ type: 'A', data: i }]);
  await sleep(1_500); // reads fail all the while (refused, then connect timeouts)
  expect(ended).toBe('running');
  proxy.restore();
  await waitFor(() => seen.length === 6, 10_000, 'the events appended during the outage');
  await writer.append('s', [{ type: 'A', data: 7 }]);
  await waitFor(() => seen.length === 7, 10_000, 'a live event after the outage');
  expect(seen).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(ended).toBe('running');
  await sub.close();
}
