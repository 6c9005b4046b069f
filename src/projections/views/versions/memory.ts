/** The versions view in memory: maps `versions` (`namespace/key` -> frozen rows, oldest first) and `drops` (namespace -> position of its last drop). */
import type { RecordedEvent } from '../../../streams/event-log.js';
import type { MemoryViewContext } from '../../view-context.js';
import { entryId } from '../../model.js';
import { ms } from '../keys.js';
import type { MemoryMaps } from '../kv/memory.js';
import { keyedBatch, planVersions, touchedKeys } from '../plan.js';
import type { KvEntry, VersionEntry, VersionsRetentionOptions } from '../rows.js';
import type { VersionsReader, VersionTarget } from '../types.js';

/** A key's state as the versions view knows it: its newest row, unless deleted or older than its namespace's last drop. */
export function currentFromRow(row: VersionEntry | undefined, dropPosition: number | undefined): KvEntry | undefined {
  if (!row || row.deleted || row.position < (dropPosition ?? 0)) return undefined;
  return { ...row, createdAt: row.time, updatedAt: row.time };
}

/** Fold a batch into the memory versions view. */
export function applyVersionsMemory(events: readonly RecordedEvent[], ctx: MemoryViewContext, retention?: VersionsRetentionOptions): void {
  const versions = ctx.map<string, readonly VersionEntry[]>('versions');
  const drops = ctx.map<string, number>('drops');
  const batch = keyedBatch(events);
  const current = new Map<string, KvEntry>();
  for (const k of touchedKeys(batch)) {
    const id = entryId(k.namespace, k.key);
    const c = currentFromRow(versions.get(id)?.at(-1), drops.get(k.namespace));
    if (c) current.set(id, c);
  }
  const plan = planVersions(batch, current, retention);
  for (const d of plan.drops) drops.set(d.namespace, d.position);
  for (const p of plan.purges) versions.delete(entryId(p.namespace, p.key));
  const grown = new Map<string, VersionEntry[]>();
  for (const r of plan.inserts) {
    const id = entryId(r.namespace, r.key);
    let list = grown.get(id);
    if (!list) grown.set(id, (list = [...(versions.get(id) ?? [])]));
    list.push(Object.freeze(r));
  }
  for (const t of plan.trims) {
    const id = entryId(t.namespace, t.key);
    grown.set(id, (grown.get(id) ?? [...(versions.get(id) ?? [])]).filter((v) => v.version > t.upTo));
  }
  for (const [id, list] of grown) versions.set(id, Object.freeze(list));
  for (const rule of plan.age) {
    for (const [id, list] of versions) {
      const ns = list[0]?.namespace;
      if (ns === undefined || (rule.namespace !== null ? ns !== rule.namespace : rule.except.includes(ns))) continue;
      const kept = list.filter((v, i) => i === list.length - 1 || v.time >= rule.before);
      if (kept.length !== list.length) versions.set(id, Object.freeze(kept));
    }
  }
}

/** Reads of the memory versions view. */
export class MemoryVersionsReader implements VersionsReader {
  constructor(private readonly storage: MemoryMaps, private readonly name = 'kv_versions') {}

  private list(namespace: string, key: string): readonly VersionEntry[] {
    return this.storage.map<string, readonly VersionEntry[]>(this.name, 'versions')?.get(entryId(namespace, key)) ?? [];
  }

  async versions(namespace: string, key: string, o: { limit?: number | undefined; before?: number | undefined } = {}): Promise<VersionEntry[]> {
    const rows = this.list(namespace, key).filter((v) => o.before === undefined || v.version < o.before).reverse();
    return o.limit === undefined ? rows : rows.slice(0, o.limit);
  }

  async at(namespace: string, key: string, target: VersionTarget): Promise<VersionEntry | undefined> {
    const list = this.list(namespace, key);
    for (let i = list.length - 1; i >= 0; i--) {
      const v = list[i]!;
      if ('version' in target ? v.version <= target.version : v.time <= ms(target.time)) return v;
    }
    return undefined;
  }

  async all(): Promise<VersionEntry[]> {
    return [...(this.storage.map<string, readonly VersionEntry[]>(this.name, 'versions')?.values() ?? [])].flat();
  }
}
