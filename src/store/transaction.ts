/**
 * Transactions: `store.transaction(async (tx) => ...)`. Reads inside see the transaction's own
 * writes; the writes commit as one atomic append (appendMany) whose expectations are the versions
 * the transaction read, so a key changed by someone else since makes the log refuse the whole
 * append. The function then runs again on fresh reads, up to `maxRetries` attempts, then
 * ConcurrencyError.
 *
 * Keys only read (never written) are checked inside the append where the log runs hooks in its
 * transaction (memory, SQLite, PostgreSQL: read-checks.ts); elsewhere just before the append, which
 * is not part of it (the log has no "expect without appending"), so there a write landing on such
 * a key between the check and the append is not detected.
 */
import { randomUUID } from 'node:crypto';
import { ClosedError, ValidationError, shown } from '../core/errors.js';
import { keyedEvents, keyStream, type Metadata } from '../projections/keyed-events.js';
import type { NewEvent, StreamAppend } from '../streams/event-log.js';
import type { StoreContext } from './context.js';
import type { OpOptions } from './types.js';
import { setEvent } from './writes.js';
import type { ReadCheck } from './read-checks.js';
import type { RelateResult, RelationEntry, RelationKey } from './relations.js';
import { TxRelations, type TxHost, type TxKey } from './transaction-relations.js';
import type { KeyRef } from '../projections/keyed-events.js';

interface Touched {
  ns: string;
  key: string;
  stream: string;
  /** the key's revision when first read: the append's expectation */
  expected: number;
  live: { value: unknown; metadata: Metadata | null } | undefined;
  /** deleted at some point of this transaction (its relations went with it) */
  removed: boolean;
  events: NewEvent[];
}

/** What the transaction function receives. Options default to the transaction's namespace and actor. */
export interface StoreTransaction {
  get<T = unknown>(key: string, o?: OpOptions): Promise<T | undefined>;
  has(key: string, o?: OpOptions): Promise<boolean>;
  set(key: string, value: unknown, o?: OpOptions & { metadata?: Metadata | undefined; ttlMs?: number | undefined; expiresAt?: number | Date | undefined }): Promise<void>;
  delete(key: string, o?: OpOptions): Promise<boolean>;
  /** add `by` to a number value (missing counts as 0); resolves to the new number */
  incr(key: string, by?: number, o?: OpOptions): Promise<number>;
  /** relate two keys live as the transaction sees them (StateNotFoundError otherwise); `written: false` when already related */
  relate(subject: RelationKey, predicate: string, object: RelationKey, o?: OpOptions): Promise<RelateResult>;
  /** remove a relation; false when it is not live as the transaction sees it */
  unrelate(subject: RelationKey, predicate: string, object: RelationKey, o?: OpOptions): Promise<boolean>;
  /** the relations of `subject`, with this transaction's own changes (see transaction-relations.ts) */
  related(subject: RelationKey, predicate?: string, o?: OpOptions): Promise<RelationEntry[]>;
  /** the relations pointing at `object`, with this transaction's own changes */
  relatedTo(object: RelationKey, predicate?: string, o?: OpOptions): Promise<RelationEntry[]>;
}

class Tx implements StoreTransaction, TxHost {
  readonly touchedKeys = new Map<string, Touched>();
  readonly id = randomUUID();
  readonly rels = new TxRelations(this);
  done = false;

  constructor(readonly ctx: StoreContext, private readonly base: OpOptions) {}

  opts(o: OpOptions | undefined): OpOptions {
    return { namespace: o?.namespace ?? this.base.namespace, actor: o?.actor ?? this.base.actor };
  }

  private async touch(key: string, o: OpOptions | undefined, action: 'read' | 'write'): Promise<Touched> {
    const opts = this.opts(o);
    const ns = this.ctx.ns(opts);
    return this.touchRef({ namespace: ns, key: this.ctx.key(key, ns) }, opts, action);
  }

  async touchRef(ref: KeyRef, opts: OpOptions, action: 'read' | 'write'): Promise<Touched> {
    if (this.done) throw new ClosedError('transaction (it has committed; use the tx only inside its function)');
    const { namespace: ns, key: k } = ref;
    await this.ctx.authorize(action, ns, k, opts);
    const stream = keyStream(ns, k);
    let t = this.touchedKeys.get(stream);
    if (!t) {
      const row = await this.ctx.readers.kv.get(ns, k);
      const expected = row?.version ?? (await this.ctx.log.revision(stream));
      const live = row && (row.expiresAt === null || row.expiresAt > this.ctx.now()) ? { value: row.value, metadata: row.metadata } : undefined;
      t = this.touchedKeys.get(stream) ?? { ns, key: k, stream, expected, live, removed: false, events: [] };
      this.touchedKeys.set(stream, t);
    }
    return t;
  }

  touched(ref: KeyRef): TxKey | undefined {
    return this.touchedKeys.get(keyStream(ref.namespace, ref.key));
  }

  async get<T>(key: string, o?: OpOptions): Promise<T | undefined> {
    return (await this.touch(key, o, 'read')).live?.value as T | undefined;
  }

  async has(key: string, o?: OpOptions): Promise<boolean> {
    return (await this.touch(key, o, 'read')).live !== undefined;
  }

  async set(key: string, value: unknown, o?: OpOptions & { metadata?: Metadata | undefined; ttlMs?: number | undefined; expiresAt?: number | Date | undefined }): Promise<void> {
    const opts = this.opts(o);
    const event = setEvent(this.ctx, value, { ...opts, metadata: o?.metadata, ttlMs: o?.ttlMs, expiresAt: o?.expiresAt }, 'set', this.id);
    const t = await this.touch(key, opts, 'write');
    t.events.push(event);
    t.live = { value: (event.data as { value: unknown }).value, metadata: o?.metadata ?? t.live?.metadata ?? null };
  }

  async delete(key: string, o?: OpOptions): Promise<boolean> {
    const opts = this.opts(o);
    const t = await this.touch(key, opts, 'write');
    if (!t.live) return false;
    t.events.push(keyedEvents.deleted(this.ctx.meta(opts, 'delete', this.id)));
    t.live = undefined;
    t.removed = true;
    this.rels.keyRemoved({ namespace: t.ns, key: t.key });
    return true;
  }

  async incr(key: string, by = 1, o?: OpOptions): Promise<number> {
    if (typeof by !== 'number' || !Number.isFinite(by)) throw new ValidationError(`incr needs a finite number, got ${shown(by)}`);
    const opts = this.opts(o);
    const t = await this.touch(key, opts, 'write');
    const cur = t.live?.value;
    if (cur !== undefined && typeof cur !== 'number') throw new ValidationError(`incr: the value of ${JSON.stringify(key)} is not a number`);
    const next = ((cur as number | undefined) ?? 0) + by;
    // a live number gets an increment; an absent or expired key starts again at `by` (an increment would add to the expired value)
    t.events.push(t.live ? keyedEvents.incremented(by, undefined, this.ctx.meta(opts, 'incr', this.id)) : setEvent(this.ctx, next, opts, 'incr', this.id));
    t.live = { value: next, metadata: t.live?.metadata ?? null };
    return next;
  }

  async relate(subject: RelationKey, predicate: string, object: RelationKey, o?: OpOptions): Promise<RelateResult> {
    this.open();
    return this.rels.relate(subject, predicate, object, o);
  }

  async unrelate(subject: RelationKey, predicate: string, object: RelationKey, o?: OpOptions): Promise<boolean> {
    this.open();
    return this.rels.unrelate(subject, predicate, object, o);
  }

  async related(subject: RelationKey, predicate?: string, o?: OpOptions): Promise<RelationEntry[]> {
    this.open();
    return this.rels.lookup(subject, predicate, o, 'related');
  }

  async relatedTo(object: RelationKey, predicate?: string, o?: OpOptions): Promise<RelationEntry[]> {
    this.open();
    return this.rels.lookup(object, predicate, o, 'relatedTo');
  }

  private open(): void {
    if (this.done) throw new ClosedError('transaction (it has committed; use the tx only inside its function)');
  }

  /** Append every write in one atomic append (key events first, then relation events), checking the keys only read (inside it where the log allows). */
  async commit(): Promise<void> {
    this.done = true;
    const writes: StreamAppend[] = [];
    const reads: ReadCheck[] = [];
    for (const t of this.touchedKeys.values()) {
      if (t.events.length > 0) writes.push({ stream: t.stream, events: t.events, expectedRevision: t.expected });
      else reads.push({ stream: t.stream, key: t.key, expected: t.expected });
    }
    writes.push(...this.rels.appends());
    if (writes.length === 0) await this.ctx.readChecks.verify(reads);
    else await this.ctx.readChecks.run(this.id, reads, () => this.ctx.appendMany(writes));
  }
}

export async function transaction<T>(ctx: StoreContext, fn: (tx: StoreTransaction) => Promise<T> | T, o: OpOptions = {}): Promise<T> {
  if (typeof fn !== 'function') throw new ValidationError('transaction needs a function (tx) => ...');
  ctx.ns(o);
  await ctx.open();
  return ctx.retry(async () => {
    await ctx.fresh();
    const tx = new Tx(ctx, o);
    let result: T;
    try {
      result = await fn(tx);
    } catch (e) {
      tx.done = true;
      throw e;
    }
    await tx.commit();
    return result;
  });
}
