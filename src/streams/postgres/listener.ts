/**
 * LISTEN/NOTIFY wake-ups for subscriptions: one dedicated connection per log, started with the
 * first subscription. Notifications only shorten the wait; subscriptions also poll, so a lost
 * listener connection delays delivery but never loses an event. A lost listener is re-opened on
 * the next poll.
 */
import type { Queryable } from './errors.js';

/** The slice of a pg pool client the listener uses. */
export interface ListenClient extends Queryable {
  on(event: 'notification' | 'error' | 'end', fn: (...args: any[]) => void): unknown;
  removeAllListeners(event?: string): unknown;
  release(destroy?: boolean | Error): void;
}

/** Wakes every registered subscription when the log's channel is notified. */
export class Listener {
  private readonly wakes = new Set<() => void>();
  private client: ListenClient | undefined;
  private starting: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly connect: () => Promise<ListenClient>,
    private readonly channel: string,
  ) {}

  /** Register a wake function; returns its removal. */
  watch(wake: () => void): () => void {
    this.wakes.add(wake);
    this.ensure();
    return () => this.wakes.delete(wake);
  }

  /**
   * Wake every subscription watching: on a notification, when the LISTEN connection is (re)made or
   * lost, and when this process committed events (without waiting for the NOTIFY).
   */
  wakeAll(): void {
    for (const w of this.wakes) w();
  }

  /** Start listening when not already (called on every poll, so a dropped listener comes back). */
  ensure(): void {
    if (this.closed || this.client || this.starting) return;
    this.starting = this.start().finally(() => {
      this.starting = undefined;
    });
  }

  private async start(): Promise<void> {
    let client: ListenClient;
    try {
      client = await this.connect();
    } catch {
      return; // server unreachable: polling carries the subscriptions, and the readers report the outage
    }
    const drop = (): void => {
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('notification');
      client.release(true);
      this.wakeAll(); // re-read: notifications may have been missed
    };
    client.on('error', drop);
    client.on('end', drop);
    client.on('notification', () => this.wakeAll());
    this.client = client;
    try {
      await client.query(`LISTEN "${this.channel}"`);
    } catch {
      drop(); // same as a lost connection: polling carries on and the next poll retries
      return;
    }
    if (this.closed) await this.close();
    else this.wakeAll(); // events committed while we were not yet listening
  }

  /** Stop listening and return the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.starting;
    const c = this.client;
    this.client = undefined;
    if (c) {
      c.removeAllListeners('notification');
      c.release(true);
    }
  }
}

/**
 * Decides when the log's NOTIFY is sent, and sends the ones no append carries.
 *
 * A NOTIFY in a transaction takes a database-wide lock at commit and holds it until the commit is
 * flushed (PostgreSQL serialises notifying transactions so the queue stays in commit order). With a
 * NOTIFY in every append, every appending connection of every process flushed its commit alone:
 * pgbench, 8 connections, 1,700-2,200 appends/s against 3,400-4,300/s without. A NOTIFY of its own
 * after each commit avoids that but costs a lone sequential writer ~25% (a second statement
 * competing with its next append); one every 20 ms still ~12%.
 *
 * So: at most one NOTIFY per `intervalMs`, carried by an append. The first statement sent after a
 * quiet interval carries it inside its own transaction (`carry()`; a boolean parameter of every
 * append statement), which costs that one append a few microseconds and no round trip. Commits
 * that no NOTIFY covered (stored during the interval) get one more at its end: carried by the next
 * append if one is sent by then, else sent alone (a tiny transaction, no WAL flush). A NOTIFY covers
 * the commits seen before its statement started. The payload is empty: subscribers re-read from
 * their position. If the process dies before an owed NOTIFY, or one fails, subscribers see those
 * events at their next poll (`pollMs`).
 */
export class Notifier {
  private sending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** when the last NOTIFY was handed out or sent */
  private last = -Infinity;
  /** when the newest commit that no NOTIFY covers was seen */
  private uncovered = -Infinity;
  /** start of the newest statement whose NOTIFY committed: it covers every commit seen before */
  private covered = -Infinity;
  private closed = false;

  constructor(
    private readonly pool: Queryable,
    private readonly channel: string,
    private readonly intervalMs: number,
  ) {}

  /** A statement is about to be sent: its start time when it is to carry the NOTIFY. */
  carry(): number | undefined {
    const now = performance.now();
    if (this.closed || now - this.last < this.intervalMs) return undefined;
    this.last = now;
    return now;
  }

  /** A statement committed: `stored` events, and carried the NOTIFY when `carriedAt` is given. */
  committed(stored: boolean, carriedAt: number | undefined): void {
    if (carriedAt !== undefined && carriedAt > this.covered) this.covered = carriedAt;
    if (stored && carriedAt === undefined) this.uncovered = performance.now();
    this.schedule();
  }

  private schedule(): void {
    if (this.uncovered <= this.covered || this.sending || this.timer || this.closed) return;
    const wait = this.last + this.intervalMs - performance.now();
    if (wait <= 0) this.send();
    else {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule(); // an append sent meanwhile may have carried it
      }, wait);
      this.timer.unref();
    }
  }

  private send(): void {
    const at = performance.now();
    this.last = at;
    const done = (): void => {
      // failed or not, it is settled: when the server is away subscribers poll, and readers report the outage
      if (at > this.covered) this.covered = at;
      this.sending = undefined;
      this.schedule();
    };
    this.sending = this.pool.query({ name: `${this.channel}_notify`, text: 'SELECT pg_notify($1, NULL)', values: [this.channel] }).then(done, done);
  }

  /** Send what is owed now, then stop (before the pool ends). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.sending) await this.sending;
    if (this.uncovered > this.covered && !this.closed) {
      this.send();
      await this.sending;
    }
    this.closed = true;
  }
}
