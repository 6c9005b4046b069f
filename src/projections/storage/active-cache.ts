/**
 * The reader side every storage shares: `active()` answers from a short cache of the control
 * record (a switch in this process invalidates it at once), `control()` always asks the storage.
 */
import type { ControlRow, StorageDriver } from '../runner/driver.js';
import type { ActiveGeneration } from '../view-storage.js';

/** The driver interface the storages implement. */
export type StorageBase = StorageDriver;

/** Base class of the storages: caches `active()`. */
export abstract class ActiveCache {
  private readonly cache = new Map<string, { at: number; value: ActiveGeneration | undefined }>();
  private readonly ttlMs: number;

  constructor(generationCacheMs: number | undefined) {
    this.ttlMs = generationCacheMs ?? 1000;
  }

  protected abstract readControl(name: string): Promise<ControlRow | undefined>;

  /** The control record, read from the storage (never cached). */
  control(name: string): Promise<ControlRow | undefined> {
    return this.readControl(name);
  }

  /** The active generation of `projection` (undefined before it is built), cached up to `generationCacheMs`. */
  async active(projection: string): Promise<ActiveGeneration | undefined> {
    const hit = this.cache.get(projection);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.value;
    const c = await this.readControl(projection);
    const value = c && c.generation > 0 ? Object.freeze({ projection, generation: c.generation, version: c.version, position: c.position }) : undefined;
    // a projection not built yet is not cached: it may be built in a moment, and a reader that
    // waited for it (Store: whenCaughtUp) must then see it, not an empty view for up to ttlMs
    if (value) this.cache.set(projection, { at: Date.now(), value });
    else this.cache.delete(projection);
    return value;
  }

  /**
   * The cached active generation without a promise: `{ value }` while the cache is fresh,
   * undefined when `active()` must ask the storage (always, before the projection is built).
   */
  cachedActive(projection: string): { value: ActiveGeneration | undefined } | undefined {
    const hit = this.cache.get(projection);
    return hit && Date.now() - hit.at < this.ttlMs ? hit : undefined;
  }

  /** Forget the cached generation (this process switched it). */
  invalidate(name: string): void {
    this.cache.delete(name);
  }
}
