/**
 * A Store as a target of the write queue. Each queued write holds one or more key operations
 * with the caller's actor, metadata and expiry (an absolute time: a TTL does not restart on
 * replay) and the time it was made. Tokens are each key's version before the apply: a first
 * apply writes with that expectedVersion, a re-apply after a crash skips the keys whose version
 * moved past it, so nothing is appended twice. A replayed write carries `queuedAt` (when it was
 * queued) in its events' metadata.
 *
 * An `atomic` write (the result of a transaction, update or incr run on another Store) is applied
 * in one append where the Store's log allows it: setMany when it only sets, a transaction when it
 * also deletes (a transaction's events carry no `queuedAt`).
 */
import { BackendUnavailableError } from '../core/errors.js';
import type { Metadata } from '../projections/keyed-events.js';
import type { Store } from '../store/store.js';
import type { SetResult } from '../store/types.js';
import { isUnavailable, type FailoverTarget } from './target.js';

/** One key operation of a queued Store write. */
export type StoreKeyOp =
  | { op: 'set'; namespace: string; key: string; value: unknown; metadata?: Metadata; expiresAt?: number; actor?: string; expectedVersion?: number }
  | { op: 'delete'; namespace: string; key: string; actor?: string; expectedVersion?: number }
  | { op: 'setMetadata'; namespace: string; key: string; metadata: Metadata; merge?: boolean; actor?: string }
  | { op: 'purge'; namespace: string; key: string; actor?: string };

/** A queued Store write: its key operations, applied in order (all at once when `atomic`). */
export interface StoreOp {
  parts: StoreKeyOp[];
  atomic?: boolean;
}

/** A key's version and whether it holds a live value, before a write. */
interface KeyToken {
  v: number;
  live: boolean;
  /** the caller's expectedVersion (checked as is) */
  given?: boolean;
}

/** What each part resolved to: a set's `{ version, written }`, a delete's boolean. */
export type StorePartResult = { version: number; written: boolean } | boolean;

/** Keys whose version the target remembers from its own sets (a bound: the oldest are forgotten). */
const KNOWN_KEYS = 10_000;

async function keyState(store: Store, p: StoreKeyOp): Promise<KeyToken> {
  const o: { namespace: string; limit: number; actor?: string } = { namespace: p.namespace, limit: 1 };
  if (p.actor !== undefined) o.actor = p.actor;
  const [last] = await store.versions(p.key, o);
  if (!last) return { v: 0, live: false };
  return { v: last.version, live: !last.deleted && (last.expiresAt === null || last.expiresAt > store.now()) };
}

function opts<T extends object>(p: StoreKeyOp, more: T, queuedAt?: number): T & { namespace: string; actor?: string; eventMetadata?: Record<string, unknown> } {
  const o = { namespace: p.namespace, ...more } as T & { namespace: string; actor?: string; eventMetadata?: Record<string, unknown> };
  if (p.actor !== undefined) o.actor = p.actor;
  if (queuedAt !== undefined) o.eventMetadata = { queuedAt };
  return o;
}

function idOf(p: StoreKeyOp): string {
  return `${p.namespace}/${p.key}`;
}

/** A Store as a target, plus `write`: the op as plain writes, without expectations (the `'all'` policy's copy to the other Stores). */
export function storeTarget(store: Store): FailoverTarget<StoreOp, StorePartResult[]> & { write(op: StoreOp): Promise<StorePartResult[]> } {
  const known = new Map<string, number>();
  const remember = (p: StoreKeyOp, version: number | undefined) => {
    known.delete(idOf(p));
    if (version === undefined) return;
    known.set(idOf(p), version);
    if (known.size > KNOWN_KEYS) known.delete(known.keys().next().value!);
  };

  async function applyAtomic(op: StoreOp, queuedAt?: number): Promise<StorePartResult[]> {
    const first = op.parts[0]!;
    if (op.parts.every((p) => p.op === 'set' && p.namespace === first.namespace && p.actor === first.actor)) {
      const items = op.parts.map((p) => {
        const s = p as Extract<StoreKeyOp, { op: 'set' }>;
        const it: { key: string; value: unknown; metadata?: Metadata; expiresAt?: number } = { key: s.key, value: s.value };
        if (s.metadata !== undefined) it.metadata = s.metadata;
        if (s.expiresAt !== undefined) it.expiresAt = s.expiresAt;
        return it;
      });
      const rs = await store.setMany(items, opts(first, {}, queuedAt));
      rs.forEach((r, i) => remember(op.parts[i]!, r.version));
      return rs;
    }
    const out: StorePartResult[] = [];
    await store.transaction(async (tx) => {
      out.length = 0;
      for (const p of op.parts) {
        const o = { namespace: p.namespace, actor: p.actor };
        if (p.op === 'set') {
          await tx.set(p.key, p.value, { ...o, metadata: p.metadata, expiresAt: p.expiresAt });
          out.push({ version: 0, written: true });
        } else if (p.op === 'delete') out.push(await tx.delete(p.key, o));
      }
    });
    for (const p of op.parts) remember(p, undefined);
    return out;
  }

  return {
    async write(op) {
      if (op.atomic) return applyAtomic(op);
      const out: StorePartResult[] = [];
      for (const p of op.parts) {
        remember(p, undefined);
        if (p.op === 'set') {
          const o = opts(p, {} as { metadata?: Metadata; expiresAt?: number });
          if (p.metadata !== undefined) o.metadata = p.metadata;
          if (p.expiresAt !== undefined) o.expiresAt = p.expiresAt;
          out.push(await store.set(p.key, p.value, o));
        } else if (p.op === 'delete') out.push(await store.delete(p.key, opts(p, {})));
        else if (p.op === 'purge') {
          await store.purge(p.key, opts(p, {}));
          out.push(true);
        } else out.push(await store.setMetadata(p.key, p.metadata, opts(p, {})));
      }
      return out;
    },
    async tokens(op, strict, cached) {
      const out: KeyToken[] = [];
      for (const p of op.parts) {
        const k = known.get(idOf(p));
        if (p.op === 'purge') out.push({ v: 0, live: false }); // a purge is applied again, not skipped: erasing twice erases once
        else if (strict && p.op !== 'setMetadata' && p.expectedVersion !== undefined) out.push({ v: p.expectedVersion, live: true, given: true });
        else if (cached && !op.atomic && p.op === 'set' && k !== undefined) out.push({ v: k, live: true });
        else out.push(await keyState(store, p));
      }
      return out;
    },
    async apply(op, tokens, recovering, queuedAt) {
      if (op.atomic) {
        if (recovering) {
          // one atomic append: when any key moved past its token, all of it landed before the crash
          for (let i = 0; i < op.parts.length; i++) if ((await keyState(store, op.parts[i]!)).v > (tokens[i] as KeyToken).v) return op.parts.map((p) => (p.op === 'delete' ? true : { version: 0, written: true }));
        }
        return applyAtomic(op, queuedAt);
      }
      const out: StorePartResult[] = [];
      for (let i = 0; i < op.parts.length; i++) {
        const p = op.parts[i]!;
        const t = tokens[i] as KeyToken;
        if (p.op === 'purge') {
          remember(p, undefined);
          await store.purge(p.key, opts(p, {}));
          out.push(true);
          continue;
        }
        if (recovering) {
          const now = await keyState(store, p);
          if (now.v > t.v) {
            out.push(p.op === 'delete' ? true : { version: now.v, written: true }); // it landed before the crash
            continue;
          }
        }
        remember(p, undefined);
        if (p.op === 'set') {
          const o = opts(p, { expectedVersion: t.v } as { expectedVersion: number; metadata?: Metadata; expiresAt?: number }, queuedAt);
          if (p.metadata !== undefined) o.metadata = p.metadata;
          if (p.expiresAt !== undefined) o.expiresAt = p.expiresAt;
          const r: SetResult = await store.set(p.key, p.value, o);
          remember(p, r.version);
          out.push(r);
        } else if (p.op === 'delete') {
          if (!t.live && !t.given) out.push(false);
          else out.push(await store.delete(p.key, opts(p, { expectedVersion: t.v }, queuedAt)));
        } else {
          const o = opts(p, {} as { merge?: boolean }, queuedAt);
          if (p.merge !== undefined) o.merge = p.merge;
          out.push(await store.setMetadata(p.key, p.metadata, o));
        }
      }
      return out;
    },
    async probe() {
      // health() pings the log and the views (status() would also count every namespace)
      const h = await store.health();
      if (!h.ok) throw isUnavailable(h.error) ? h.error : new BackendUnavailableError('store', h.error.message, { cause: h.error });
    },
  };
}
