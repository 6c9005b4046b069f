/**
 * The live edge of a RedisEventLog: one dedicated connection per log blocks in XREAD on the global
 * stream and wakes every subscription when something new arrives; the subscriptions then read
 * the new events themselves (see catchUpSubscription). The connection exists only while someone
 * watches.
 */
import type { Redis } from 'ioredis';
import { duplicateClient, type RedisClient } from '../../agents/redis/client.js';
import { backoffMs, sleep } from '../../core/mutex.js';

/** How long one XREAD blocks before it is re-issued (a dead connection is noticed at the latest then). */
const BLOCK_MS = 5_000;

export class GlobalTail {
  private readonly watchers = new Set<() => void>();
  private conn: Redis | undefined;

  constructor(
    private readonly client: RedisClient,
    private readonly key: string,
  ) {}

  /** Call `wake` whenever new events may be readable; returns the function that stops it. */
  watch(wake: () => void): () => void {
    this.watchers.add(wake);
    if (!this.conn) this.start();
    return () => {
      this.watchers.delete(wake);
      if (this.watchers.size === 0) this.stop();
    };
  }

  private wakeAll(): void {
    for (const w of [...this.watchers]) w();
  }

  private start(): void {
    const conn = duplicateClient(this.client, 'RedisEventLog tail');
    this.conn = conn;
    void this.loop(conn);
  }

  private stop(): void {
    const conn = this.conn;
    this.conn = undefined;
    conn?.disconnect(); // QUIT would wait behind the blocked XREAD
  }

  /** Stop for good (the log is closing). */
  async close(): Promise<void> {
    this.watchers.clear();
    const conn = this.conn;
    this.conn = undefined;
    if (conn) conn.disconnect(); // a blocked XREAD cannot be QUIT politely
  }

  private async loop(conn: Redis): Promise<void> {
    let attempt = 0;
    while (this.conn === conn) {
      try {
        // Take the newest id first, then wake: the readers' next read sees everything up to it,
        // and XREAD reports anything after it. No append can fall between the two.
        let last = await newestId(conn, this.key);
        this.wakeAll();
        attempt = 0;
        while (this.conn === conn) {
          const r = await conn.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS', this.key, last);
          if (this.conn !== conn) return;
          if (r !== null && r !== undefined) {
            last = await newestId(conn, this.key);
            this.wakeAll();
          }
        }
      } catch {
        if (this.conn !== conn) return;
        // The failure is not swallowed: waking the readers makes them read, and a read that
        // cannot reach Redis ends their subscription with BackendUnavailableError.
        this.wakeAll();
        await sleep(100 + backoffMs(attempt++, 50, 1_000));
      }
    }
  }
}

async function newestId(conn: Redis, key: string): Promise<string> {
  const r = (await conn.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
  return r.length > 0 ? r[0]![0] : '0-0';
}
