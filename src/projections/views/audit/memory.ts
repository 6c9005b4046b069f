/** The audit view in memory: map `audit` (position -> frozen AuditEntry, in position order). */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { MemoryViewContext } from '../../view-context.js';
import { ms } from '../keys.js';
import type { MemoryMaps } from '../kv/memory.js';
import { keyedBatch, planAudit } from '../plan.js';
import { auditObject, type AuditEntry, type AuditRetentionOptions } from '../rows.js';
import type { AuditFilter, AuditReader } from '../types.js';

/** Fold a batch into the memory audit view. */
export function applyAuditMemory(events: readonly RecordedEvent[], ctx: MemoryViewContext, retention?: AuditRetentionOptions): void {
  const audit = ctx.map<number, AuditEntry>('audit');
  const plan = planAudit(keyedBatch(events), retention);
  for (const p of plan.purges) for (const [pos, a] of audit) if (a.namespace === p.namespace && a.key === p.key) audit.delete(pos);
  for (const r of plan.inserts) audit.set(r.position, Object.freeze(r));
  if (plan.before !== undefined) for (const [pos, a] of audit) if (a.time < plan.before) audit.delete(pos);
}

/**
 * Whether `a` is an entry of the key (or namespace) `f` names: its own key, or, for a relate or
 * unrelate (an entry of the subject), the relation's object too. A namespace alone matches the
 * entries of its own keys.
 */
export function auditNames(a: AuditEntry, f: Pick<AuditFilter, 'namespace' | 'key'>): boolean {
  if (f.key === undefined) return f.namespace === undefined || a.namespace === f.namespace;
  if (a.key === f.key && (f.namespace === undefined || a.namespace === f.namespace)) return true;
  const o = auditObject(a);
  return o !== undefined && o.key === f.key && (f.namespace === undefined || o.namespace === f.namespace);
}

/** True when `a` passes `f` (every given field; times inclusive; a key filter also finds relations made to the key, see {@link auditNames}). */
export function auditMatches(a: AuditEntry, f: AuditFilter): boolean {
  return (
    auditNames(a, f) &&
    (f.actor === undefined || a.actor === f.actor) &&
    (f.operation === undefined || a.operation === f.operation) &&
    (f.since === undefined || a.time >= ms(f.since)) &&
    (f.until === undefined || a.time <= ms(f.until)) &&
    (f.after === undefined || a.position > f.after)
  );
}

/** Reads of the memory audit view. */
export class MemoryAuditReader implements AuditReader {
  constructor(private readonly storage: MemoryMaps, private readonly name = 'kv_audit') {}

  async audit(f: AuditFilter = {}): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for (const a of this.storage.map<number, AuditEntry>(this.name, 'audit')?.values() ?? []) {
      if (f.limit !== undefined && out.length >= f.limit) break;
      if (auditMatches(a, f)) out.push(a);
    }
    return out;
  }

  async all(): Promise<AuditEntry[]> {
    return [...(this.storage.map<number, AuditEntry>(this.name, 'audit')?.values() ?? [])];
  }
}
