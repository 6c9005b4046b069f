/**
 * VolatileAgent: state in memory, with a bounded history. The reference implementation of the
 * DataAgent contract and the fastest point of the persistence spectrum.
 *
 * @example
 * ```ts
 * const memory = new VolatileAgent({ initial: { turns: [] as string[] }, maxHistory: 50 });
 * await memory.update((s) => { s.turns.push('hello'); });
 * ```
 */
import { prepare } from '../core/codec.js';
import { frozen, type Frozen } from '../core/frozen.js';
import { ConcurrencyError, ValidationError, shown } from '../core/errors.js';
import { toMs } from '../core/ids.js';
import type { LoadAtTarget } from './data-agent.js';
import { VersionedAgent, type Snapshot, type VersionedAgentOptions } from './versioned-agent.js';

/** Options of {@link VolatileAgent}. */
export interface VolatileAgentOptions<S> extends VersionedAgentOptions<S> {
  /** How many saved states are kept for `history()`/`loadAt()` (default 100). The current state is always kept. */
  maxHistory?: number | undefined;
}

interface Entry<S> extends Snapshot<S> {
  binary: boolean;
}

/** In-memory agent. Loads return the stored frozen state as is: no copy, no decode. */
export class VolatileAgent<S> extends VersionedAgent<S> {
  private readonly maxHistory: number;
  /** oldest first; the last entry is the current state */
  private entries: Entry<S>[] = [];
  private head = 0;

  constructor(options: VolatileAgentOptions<S> = {}) {
    super(options);
    const max = options.maxHistory ?? 100;
    if (!Number.isInteger(max) || max < 1) throw new ValidationError(`maxHistory must be an integer >= 1, got ${shown(max)}`);
    this.maxHistory = max;
  }

  // Fast path: the hot load() avoids the async base-class machinery.
  override load(): Promise<Frozen<S>> {
    const n = this.entries.length;
    if (n > this.head && !this.closed) {
      const e = this.entries[n - 1]!;
      return Promise.resolve(frozen(e.binary ? this.copy(e.state) : e.state));
    }
    return super.load();
  }

  private copy(s: S): S {
    // Uint8Array cannot be frozen: hand out a copy so callers cannot reach the stored bytes.
    return prepare(s).value;
  }

  private out(e: Entry<S>): Snapshot<S> {
    return e.binary ? { ...e, state: this.copy(e.state) } : e;
  }

  protected async current(): Promise<Snapshot<S> | undefined> {
    const e = this.entries[this.entries.length - 1];
    return e && this.entries.length > this.head ? this.out(e) : undefined;
  }

  protected async write(state: S, expectedVersion: number | undefined, knownBinary?: boolean): Promise<Snapshot<S>> {
    const cur = this.entries.length > this.head ? this.entries[this.entries.length - 1]!.version : 0;
    if (expectedVersion !== undefined && expectedVersion !== cur) throw new ConcurrencyError(expectedVersion, cur, this.describe());
    // the base class prepared the state and knows whether it holds bytes: no second walk then
    const { value, hasBinary } = knownBinary === undefined ? prepare(state) : { value: state, hasBinary: knownBinary };
    const entry: Entry<S> = { state: value, version: cur + 1, time: new Date(), binary: hasBinary };
    this.entries.push(entry);
    // Drop the oldest entries lazily (amortised O(1)); the current state is never dropped.
    if (this.entries.length - this.head > this.maxHistory) {
      this.head = this.entries.length - this.maxHistory;
      if (this.head > 1024 && this.head * 2 > this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    }
    return this.out(entry);
  }

  protected async readHistory(limit: number): Promise<Snapshot<S>[]> {
    const out: Snapshot<S>[] = [];
    for (let i = this.entries.length - 1; i >= this.head && out.length < limit; i--) out.push(this.out(this.entries[i]!));
    return out;
  }

  protected async readAt(target: LoadAtTarget): Promise<Snapshot<S> | undefined> {
    if ('version' in target) {
      const first = this.entries[this.head];
      if (!first || target.version < first.version) return undefined;
      const e = this.entries[this.head + (target.version - first.version)];
      return e && e.version === target.version ? this.out(e) : undefined;
    }
    const t = toMs(target.time);
    for (let i = this.entries.length - 1; i >= this.head; i--) {
      const e = this.entries[i]!;
      if (e.time.getTime() <= t) return this.out(e);
    }
    return undefined;
  }

  override async close(): Promise<void> {
    await super.close();
  }
}
