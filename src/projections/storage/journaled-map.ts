/**
 * The maps of memory views: a Map whose writes are recorded in the open batch's journal, so a batch
 * that fails (or an append that aborts) is undone exactly.
 */

/** The undo list of the batch being applied, shared by every map of a storage. */
export interface Journal {
  current: (() => void)[] | undefined;
}

/** A Map that records how to undo each write while `journal.current` is set. */
export class JournaledMap<K, V> extends Map<K, V> {
  // an ES private field: not an own enumerable property, so the map prints and compares as a plain Map
  readonly #journal: Journal;

  constructor(journal: Journal) {
    super();
    this.#journal = journal;
  }

  override set(key: K, value: V): this {
    const undo = this.#journal?.current;
    if (undo) {
      const had = super.has(key);
      const old = super.get(key);
      undo.push(() => void (had ? super.set(key, old as V) : super.delete(key)));
    }
    return super.set(key, value);
  }

  override delete(key: K): boolean {
    const undo = this.#journal?.current;
    if (undo && super.has(key)) {
      const old = super.get(key) as V;
      undo.push(() => void super.set(key, old));
    }
    return super.delete(key);
  }

  override clear(): void {
    const undo = this.#journal?.current;
    if (undo && this.size > 0) {
      const entries = [...super.entries()];
      undo.push(() => {
        for (const [k, v] of entries) super.set(k, v);
      });
    }
    super.clear();
  }
}

/** Run `fn` with a fresh journal; on a throw undo its writes (newest first) and rethrow. Returns the undo function. */
export async function journaled(journal: Journal, fn: () => void | Promise<void>): Promise<() => void> {
  const undo: (() => void)[] = [];
  const outer = journal.current;
  journal.current = undo;
  const rollback = (): void => {
    for (let i = undo.length - 1; i >= 0; i--) undo[i]!();
  };
  try {
    await fn();
  } catch (e) {
    rollback();
    throw e;
  } finally {
    journal.current = outer;
  }
  return rollback;
}
