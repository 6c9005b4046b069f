/**
 * A Store as a target of the write queue. Each queued write holds one or more key operations
 * with the caller's actor, metadata and expiry (an absolute time: a TTL does not restart on
 * replay) and the time it was made. Tokens are each key's version before the apply: a first
 * apply writes with that expectedVersion, a re-apply after a crash skips the keys whose version
 * moved past it, so nothing is appended twice.
 */
import { BackendUnavailableError } from '../core/errors.js';
import type { Metadata } from '../projections/keyed-events.js';
import type { Store } from '../store/store.js';
import { isUnavailable, type FailoverTarget } from './target.js';

/** One key operation of a queued Store write. */
export type StoreKeyOp =
  | { op: 'set'; namespace: string; key: string; value: unknown; metadata?: Metadata; expiresAt?: number; actor?: string; expectedVersion?: number }
  | { op: 'delete'; namespace: string; key: string; actor?: string; expectedVersion?: number }
  | { op: 'setMetadata'; namespace: string; key: string; metadata: Metadata; merge?: boolean; actor?: string };

/** A queued Store write: its key operations, applied in order. */
export interface StoreOp {
  parts: StoreKeyOp[];
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

async function keyState(store: Store, p: StoreKeyOp): Promise<KeyToken> {
  const o: { namespace: string; limit: number; actor?: string } = { namespace: p.namespace, limit: 1 };
  if (p.actor !== undefined) o.actor = p.actor;
  const [last] = await store.versions(p.key, o);
  if (!last) return { v: 0, live: false };
  return { v: last.version, live: !last.deleted && (last.expiresAt === null || last.expiresAt > store.now()) };
}

function opts<T extends object>(p: StoreKeyOp, more: T): T & { namespace: string; actor?: string } {
  const o = { namespace: p.namespace, ...more } as T & { namespace: string; actor?: string };
  if (p.actor !== undefined) o.actor = p.actor;
  return o;
}

export function storeTarget(store: Store): FailoverTarget<StoreOp, StorePartResult[]> {
  return {
    async tokens(op, strict) {
      const out: KeyToken[] = [];
      for (const p of op.parts) {
        if (strict && p.op !== 'setMetadata' && p.expectedVersion !== undefined) out.push({ v: p.expectedVersion, live: true, given: true });
        else out.push(await keyState(store, p));
      }
      return out;
    },
    async apply(op, tokens, recovering) {
      const out: StorePartResult[] = [];
      for (let i = 0; i < op.parts.length; i++) {
        const p = op.parts[i]!;
        const t = tokens[i] as KeyToken;
        if (recovering) {
          const now = await keyState(store, p);
          if (now.v > t.v) {
            out.push(p.op === 'delete' ? true : { version: now.v, written: true }); // it landed before the crash
            continue;
          }
        }
        if (p.op === 'set') {
          const o = opts(p, { expectedVersion: t.v } as { expectedVersion: number; metadata?: Metadata; expiresAt?: number });
          if (p.metadata !== undefined) o.metadata = p.metadata;
          if (p.expiresAt !== undefined) o.expiresAt = p.expiresAt;
          out.push(await store.set(p.key, p.value, o));
        } else if (p.op === 'delete') {
          if (!t.live && !t.given) out.push(false);
          else out.push(await store.delete(p.key, opts(p, { expectedVersion: t.v })));
        } else {
          const o = opts(p, {} as { merge?: boolean });
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
