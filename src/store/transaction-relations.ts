/**
 * Relationships inside a transaction: `tx.relate`, `tx.unrelate`, `tx.related` and `tx.relatedTo`.
 *
 * - Atomic: the relation events go into the transaction's one append, after its key events, each
 *   relation stream expecting the revision it had when the transaction first read the relation.
 *   `tx.relate` touches both keys (read, so their versions are checked with the append, as for
 *   any key the transaction read) and needs them live as the transaction sees them.
 * - Read-your-writes: `tx.related` / `tx.relatedTo` answer from the views with the transaction's
 *   own changes laid over: its relates and unrelates, and its deletes (a key deleted in the
 *   transaction takes its relations with it, as the delete's append will). A relation made in
 *   the transaction shows `position: 0` and the Store's clock as `createdAt` until it commits.
 * - A key deleted in the transaction drops the transaction's earlier relation changes naming it:
 *   the relation ends as the delete leaves it (removed with the key when it was live before),
 *   so the folded views always agree with what `tx.related` answered.
 */
import { StateNotFoundError } from '../core/errors.js';
import { keyedEvents, validatePredicate, type KeyRef } from '../projections/keyed-events.js';
import { compareForward, compareInverse, involves, keyId, type RelationEntry } from '../projections/views/relations/rows.js';
import type { NewEvent, StreamAppend } from '../streams/event-log.js';
import type { StoreContext } from './context.js';
import { reader, readable, ref, triple, type RelateResult, type RelationKey, type Triple } from './relations.js';
import type { OpOptions } from './types.js';

/** What the relation overlay needs of a transaction's keys. */
export interface TxKey {
  live: unknown;
  /** deleted at some point of this transaction */
  removed: boolean;
}

/** The transaction's side this module works with (implemented by the Tx of transaction.ts). */
export interface TxHost {
  readonly ctx: StoreContext;
  readonly id: string;
  opts(o: OpOptions | undefined): OpOptions;
  /** authorize `action` on the key and read it once (its version becomes an expectation of the append) */
  touchRef(k: KeyRef, o: OpOptions, action: 'read' | 'write'): Promise<TxKey>;
  /** the key as touched so far, or undefined */
  touched(k: KeyRef): TxKey | undefined;
}

interface TxRelation {
  t: Triple;
  /** the relation stream's revision when first read: the append's expectation */
  expected: number;
  /** live as this transaction sees it now */
  live: boolean;
  /** the entry `related` shows while live */
  entry: RelationEntry | undefined;
  events: NewEvent[];
}

export class TxRelations {
  private readonly rels = new Map<string, TxRelation>();

  constructor(private readonly tx: TxHost) {}

  private removedInTx(k: KeyRef): boolean {
    return this.tx.touched(k)?.removed === true;
  }

  /** Whether a live row of the views is still live for this transaction (neither end deleted in it). */
  private viewRowLive(r: { subject: KeyRef; object: KeyRef }): boolean {
    return !this.removedInTx(r.subject) && !this.removedInTx(r.object);
  }

  private async rel(t: Triple): Promise<TxRelation> {
    let r = this.rels.get(t.stream);
    if (r) return r;
    const row = await reader(this.tx.ctx).get(t.subject, t.predicate, t.object);
    const expected = row?.version ?? (await this.tx.ctx.log.revision(t.stream));
    const live = row !== undefined && this.viewRowLive(row);
    r = this.rels.get(t.stream) ?? { t, expected, live, entry: live ? row : undefined, events: [] };
    this.rels.set(t.stream, r);
    return r;
  }

  async relate(subject: RelationKey, predicate: string, object: RelationKey, o: OpOptions | undefined): Promise<RelateResult> {
    const opts = this.tx.opts(o);
    const t = triple(this.tx.ctx, subject, predicate, object, opts);
    const s = await this.tx.touchRef(t.subject, opts, 'write');
    const ob = await this.tx.touchRef(t.object, opts, 'read');
    for (const [what, k, x] of [['subject', t.subject, s], ['object', t.object, ob]] as const) if (!x.live) throw new StateNotFoundError(`${what} ${k.namespace}/${k.key}`);
    const r = await this.rel(t);
    if (r.live) return { version: r.entry!.version, written: false };
    const meta = this.tx.ctx.meta(opts, 'relate', this.tx.id);
    r.events.push(keyedEvents.relationAdded(t.subject, t.predicate, t.object, meta));
    const version = r.expected + r.events.length;
    r.live = true;
    r.entry = { subject: t.subject, predicate: t.predicate, object: t.object, version, createdAt: this.tx.ctx.now(), actor: meta.actor ?? null, position: 0 };
    return { version, written: true };
  }

  async unrelate(subject: RelationKey, predicate: string, object: RelationKey, o: OpOptions | undefined): Promise<boolean> {
    const opts = this.tx.opts(o);
    const ctx = this.tx.ctx;
    const t = triple(ctx, subject, predicate, object, opts);
    await ctx.authorize('write', t.subject.namespace, t.subject.key, opts);
    await ctx.authorize('read', t.object.namespace, t.object.key, opts);
    const r = await this.rel(t);
    if (!r.live) return false;
    r.events.push(keyedEvents.relationRemoved(t.subject, t.predicate, t.object, ctx.meta(opts, 'unrelate', this.tx.id)));
    r.live = false;
    r.entry = undefined;
    return true;
  }

  /** A key deleted in the transaction: its relations go with it, and this transaction's changes naming it are dropped. */
  keyRemoved(k: KeyRef): void {
    for (const r of this.rels.values()) {
      if (!involves(r.t, k)) continue;
      r.live = false;
      r.entry = undefined;
      r.events = [];
    }
  }

  async lookup(key: RelationKey, predicate: string | undefined, o: OpOptions | undefined, dir: 'related' | 'relatedTo'): Promise<RelationEntry[]> {
    const opts = this.tx.opts(o);
    const ctx = this.tx.ctx;
    const k = ref(ctx, key, opts, dir === 'related' ? 'subject' : 'object');
    const p = predicate === undefined ? undefined : validatePredicate(predicate);
    if (!(await this.tx.touchRef(k, opts, 'read')).live) return [];
    const side = dir === 'related' ? 'subject' : 'object';
    const other = (r: RelationEntry): KeyRef => (dir === 'related' ? r.object : r.subject);
    const rows = new Map<string, RelationEntry>();
    const views = dir === 'related' ? await reader(ctx).related(k, p) : await reader(ctx).relatedTo(k, p);
    for (const row of views) if (this.viewRowLive(row)) rows.set(keyId(row.subject) + '\0' + row.predicate + '\0' + keyId(row.object), row);
    for (const r of this.rels.values()) {
      const id = keyId(r.t.subject) + '\0' + r.t.predicate + '\0' + keyId(r.t.object);
      if (keyId(r.t[side]) !== keyId(k) || (p !== undefined && r.t.predicate !== p)) continue;
      if (r.live && r.entry) rows.set(id, r.entry);
      else rows.delete(id);
    }
    const out: RelationEntry[] = [];
    const now = ctx.now();
    for (const r of rows.values()) {
      const end = other(r);
      const seen = this.tx.touched(end);
      const live = seen ? Boolean(seen.live) : (await ctx.readers.kv.get(end.namespace, end.key, { now })) !== undefined;
      if (live && (await readable(ctx, end, opts))) out.push(r);
    }
    return out.sort(dir === 'related' ? compareForward : compareInverse);
  }

  /** The relation streams to append, after the key streams. */
  appends(): StreamAppend[] {
    const out: StreamAppend[] = [];
    for (const r of this.rels.values()) if (r.events.length > 0) out.push({ stream: r.t.stream, events: r.events, expectedRevision: r.expected });
    return out;
  }
}
