/**
 * MemoryViewStorage: views as Maps in this process, the reference storage and the test double.
 * Writes of a batch are journaled and undone when the batch fails or its append aborts; the
 * control records and the lease live here too (a lease only matters between runners sharing this object).
 *
 * @example
 * ```ts
 * const views = new MemoryViewStorage();
 * const runner = new ProjectionRunner({ log: new MemoryEventLog(), storage: views, projections: [counts] });
 * await runner.start();
 * views.map('type_counts', 'counts')?.get('UserSaid');
 * ```
 */
import { MemoryEventLog } from '../../streams/memory/memory-event-log.js';
import type { AppendTransaction, RecordedEvent } from '../../streams/event-log.js';
import type { Projection } from '../projection.js';
import type { MemoryViewContext } from '../view-context.js';
import type { ActiveGeneration } from '../view-storage.js';
import { checkLocalName } from '../view-storage.js';
import { inlineApplies, leaseLost, type BatchTarget, type ControlRow, type Fence, type InlineItem, type StorageDriver } from '../runner/driver.js';
import { JournaledMap, journaled, type Journal } from './journaled-map.js';

/** Memory-held views; see the file comment. */
export class MemoryViewStorage implements StorageDriver {
  readonly kind = 'memory' as const;
  private readonly controls = new Map<string, ControlRow>();
  private readonly generations = new Map<string, Map<string, JournaledMap<unknown, unknown>>>();
  private readonly leases = new Map<string, { owner: string; expires: number }>();
  private readonly journal: Journal = { current: undefined };
  readonly inline = { apply: (tx: AppendTransaction, items: readonly InlineItem[], max: number) => this.applyInline(tx, items, max) };

  /** The active generation's map `local` of `projection` (undefined before it exists). */
  map<K = string, V = unknown>(projection: string, local: string): ReadonlyMap<K, V> | undefined {
    const c = this.controls.get(projection);
    if (!c || c.generation === 0) return undefined;
    return this.generations.get(genKey(projection, c.generation))?.get(local) as ReadonlyMap<K, V> | undefined;
  }

  async active(projection: string): Promise<ActiveGeneration | undefined> {
    const c = this.controls.get(projection);
    return c && c.generation > 0 ? { projection, generation: c.generation, version: c.version, position: c.position } : undefined;
  }

  async close(): Promise<void> {}
  async init(): Promise<void> {}
  invalidate(): void {}

  hostsInline(log: unknown): boolean {
    return log instanceof MemoryEventLog;
  }

  async control(name: string): Promise<ControlRow | undefined> {
    const c = this.controls.get(name);
    return c && { ...c, building: c.building && { ...c.building } };
  }

  async ensureControl(name: string, initial: ControlRow): Promise<ControlRow> {
    if (!this.controls.has(name)) this.controls.set(name, { ...initial });
    return (await this.control(name))!;
  }

  async setup(target: BatchTarget): Promise<void> {
    const setup = target.projection.setup;
    if (!setup) return;
    const commits: (() => void)[] = [];
    await journaled(this.journal, () => setup.call(target.projection, this.context(target, (fn) => commits.push(fn))));
    for (const fn of commits) fn();
  }

  async commit(target: BatchTarget, events: readonly RecordedEvent[], position: number, fence: Fence | undefined): Promise<void> {
    const name = target.projection.name;
    if (fence) this.fence(name, fence);
    const c = this.controls.get(name)!;
    this.checkTarget(c, target);
    const commits: (() => void)[] = [];
    if (events.length > 0) await journaled(this.journal, () => target.projection.apply(events, this.context(target, (fn) => commits.push(fn))));
    if (target.slot === 'active') c.position = position;
    else c.building!.position = position;
    for (const fn of commits) fn();
  }

  async beginBuild(name: string, generation: number, version: number, fence: Fence): Promise<void> {
    this.fence(name, fence);
    this.controls.get(name)!.building = { generation, version, position: 0 };
  }

  async trySwitch(name: string, generation: number, fence: Fence): Promise<boolean> {
    this.fence(name, fence);
    const c = this.controls.get(name)!;
    const b = c.building;
    if (!b || b.generation !== generation) throw new Error(`projection ${name}: generation ${generation} is not being built`);
    if (b.position < c.position || b.position < c.seen) return false;
    Object.assign(c, { generation: b.generation, version: b.version, position: b.position, building: undefined });
    return true;
  }

  async dropExcept(projection: Projection<any>, keep: number): Promise<void> {
    const prefix = genKey(projection.name, 0).slice(0, -1);
    for (const key of [...this.generations.keys()]) {
      const generation = Number(key.slice(prefix.length));
      if (!key.startsWith(prefix) || generation === keep) continue;
      if (projection.teardown) await projection.teardown(this.context({ projection, generation, version: projection.version, phase: 'rebuild' }, () => undefined));
      this.generations.delete(key);
    }
  }

  async acquire(name: string, fence: Fence): Promise<boolean> {
    const now = Date.now();
    const l = this.leases.get(name);
    if (l && l.owner !== fence.owner && l.expires > now) return false;
    this.leases.set(name, { owner: fence.owner, expires: now + fence.ttlMs });
    return true;
  }

  async release(name: string, owner: string): Promise<void> {
    if (this.leases.get(name)?.owner === owner) this.leases.delete(name);
  }

  private fence(name: string, fence: Fence): void {
    const l = this.leases.get(name);
    if (!l || l.owner !== fence.owner || l.expires <= Date.now()) throw leaseLost(name);
    l.expires = Date.now() + fence.ttlMs;
  }

  private checkTarget(c: ControlRow, t: BatchTarget): void {
    const g = t.slot === 'active' ? c.generation : c.building?.generation;
    if (g !== t.generation) throw leaseLost(t.projection.name); // another runner switched meanwhile
  }

  private context(t: Omit<BatchTarget, 'slot'> & { slot?: unknown }, onCommit: (fn: () => void) => void): MemoryViewContext {
    const key = genKey(t.projection.name, t.generation);
    let maps = this.generations.get(key);
    if (!maps) this.generations.set(key, (maps = new Map()));
    const journal = this.journal;
    return {
      storage: 'memory',
      projection: t.projection.name,
      generation: t.generation,
      version: t.version,
      phase: t.phase,
      onCommit,
      map<K, V>(local: string): Map<K, V> {
        let m = maps.get(checkLocalName(local));
        if (!m) maps.set(local, (m = new JournaledMap(journal)));
        return m as unknown as Map<K, V>;
      },
    };
  }

  private async applyInline(tx: AppendTransaction, items: readonly InlineItem[], max: number): Promise<void> {
    for (const { projection, events } of items) {
      const c = this.controls.get(projection.name);
      if (!c) throw new Error(`projection ${projection.name} has no control record`);
      const before = { seen: c.seen, position: c.position };
      c.seen = Math.max(c.seen, max);
      tx.onRollback(() => Object.assign(c, before));
      if (!inlineApplies(projection.name, projection.version, { generation: c.generation, version: c.version, buildingVersion: c.building?.version })) continue;
      const target = { projection, generation: c.generation, version: c.version, phase: 'inline' as const };
      if (events.length > 0) {
        const undo = await journaled(this.journal, () => projection.apply(events, this.context(target, (fn) => tx.onCommit(fn))));
        tx.onRollback(undo);
      }
      c.position = Math.max(c.position, max);
    }
  }
}

function genKey(projection: string, generation: number): string {
  return `${projection}\u0000${generation}`;
}
