/**
 * `store.agent<S>(key)`: a DataAgent over one key of a Store, with Versioned (the key's version,
 * optimistic saves, time travel from the versions view), `update` (immer patches as the event)
 * and `subscribe` (changes from any process sharing the log). It passes `dataAgentContract`.
 */
import { ClosedError, StateNotFoundError, ValidationError } from '../core/errors.js';
import { deepFreeze } from '../core/codec.js';
import { keyStream } from '../projections/keyed-events.js';
import type { ChangeInfo, DataAgent, Frozen, HistoryOptions, LoadAtTarget, Recipe, SaveOptions, Subscribable, Unsubscribe, Updatable, Versioned } from '../agents/data-agent.js';
import { historyWindow, inWindow } from '../agents/history-window.js';
import type { StoreContext } from './context.js';
import { optionalInt, timeOf } from './entries.js';
import { get } from './reads.js';
import { subscribe, type StoreUnsubscribe } from './subscribe.js';
import type { OpOptions } from './types.js';
import { update } from './update.js';
import { set } from './writes.js';

/** Options of `store.agent()`. */
export interface StoreAgentOptions<S> extends OpOptions {
  /** the state `update` starts from when nothing was saved yet (else update on an absent key is StateNotFoundError) */
  initial?: S | undefined;
}

/** A DataAgent over one Store key; see the file comment. */
export class StoreAgent<S> implements DataAgent<S>, Versioned<S>, Updatable<S>, Subscribable<S> {
  declare readonly '~state'?: S;
  private closed = false;
  private readonly subs = new Set<StoreUnsubscribe>();
  private readonly ns: string;
  private readonly key: string;

  constructor(private readonly ctx: StoreContext, key: string, private readonly options: StoreAgentOptions<S> = {}) {
    this.ns = ctx.ns(options);
    this.key = ctx.key(key, this.ns);
  }

  private check(): void {
    if (this.closed) throw new ClosedError('StoreAgent');
  }

  async load(): Promise<Frozen<S>> {
    this.check();
    // includeMetadata: a saved `undefined` state is an entry, an absent key is none
    const e = (await get(this.ctx, this.key, { ...this.options, includeMetadata: true })) as { value: unknown } | undefined;
    if (e === undefined) throw new StateNotFoundError(`no state under key ${JSON.stringify(this.key)}`, this.key);
    return e.value as Frozen<S>;
  }

  async save(state: S | Frozen<S>, options: SaveOptions = {}): Promise<void> {
    this.check();
    const expectedVersion = optionalInt(options.expectedVersion, 'expectedVersion', 0);
    await set(this.ctx, this.key, state, { ...this.options, expectedVersion });
  }

  /**
   * Saved states, newest first: `history(limit)`, or `history({ since, until, limit })` for the
   * states saved in a time window (the times of the key's events in the log, inclusive bounds).
   * Deletions and expiries are not states; a purged key has none.
   */
  async history(options?: number | HistoryOptions): Promise<Frozen<S>[]> {
    this.check();
    const w = historyWindow(options);
    if (w.limit === 0) return [];
    await this.ctx.open();
    await this.ctx.authorize('read', this.ns, this.key, this.options);
    await this.ctx.fresh();
    const out: Frozen<S>[] = [];
    let before: number | undefined;
    // deletions leave version rows without a value, and the window skips rows: page until `limit` states are found
    for (;;) {
      const page = await this.ctx.readers.versions.versions(this.ns, this.key, { limit: 100, before });
      for (const v of page) {
        if (!v.deleted && inWindow(v.time, w)) out.push(v.value as Frozen<S>);
        if (out.length === w.limit) return out;
      }
      if (page.length < 100) return out;
      before = page[page.length - 1]!.version;
    }
  }

  async version(): Promise<number> {
    this.check();
    await this.ctx.open();
    await this.ctx.authorize('read', this.ns, this.key, this.options);
    await this.ctx.fresh();
    const row = await this.ctx.readers.kv.get(this.ns, this.key);
    return row?.version ?? this.ctx.log.revision(keyStream(this.ns, this.key));
  }

  async loadAt(target: LoadAtTarget): Promise<Frozen<S>> {
    this.check();
    const t = target as { version?: unknown; time?: unknown };
    let at;
    if (typeof t === 'object' && t !== null && 'version' in t) at = { version: optionalInt(t.version, 'version', 1)! };
    else if (typeof t === 'object' && t !== null && 'time' in t) at = { time: timeOf(typeof t.time === 'string' ? new Date(t.time) : t.time, 'time')! };
    else throw new ValidationError('loadAt needs { version } or { time }');
    const e = (await get(this.ctx, this.key, { ...this.options, at, includeMetadata: true })) as { value: unknown } | undefined;
    if (e === undefined) throw new StateNotFoundError(`no state of key ${JSON.stringify(this.key)} at ${JSON.stringify(target)}`, this.key);
    return e.value as Frozen<S>;
  }

  async update(recipe: Recipe<S>): Promise<Frozen<S>> {
    this.check();
    if (typeof recipe !== 'function') throw new ValidationError('update needs a recipe function');
    const initial = this.options.initial;
    const next = await update<S>(
      this.ctx,
      this.key,
      (draft) => {
        if (draft !== undefined) return recipe(draft as never) as never;
        if (initial === undefined) throw new StateNotFoundError(`no state under key ${JSON.stringify(this.key)} to update`, this.key);
        const base = structuredClone(initial);
        const r = recipe(base as never);
        return (r === undefined ? base : r) as never;
      },
      this.options,
    );
    return deepFreeze(next) as Frozen<S>;
  }

  subscribe(listener: (state: Frozen<S>, info: ChangeInfo) => void): Unsubscribe {
    this.check();
    const off = subscribe(this.ctx, { namespace: this.ns, actor: this.options.actor, relations: false }, async (c) => {
      if (c.key !== this.key) return;
      const e = (await get(this.ctx, this.key, { ...this.options, at: { version: c.version }, includeMetadata: true })) as { value: unknown } | undefined;
      if (e !== undefined) listener(e.value as Frozen<S>, { version: c.version, time: new Date(c.time) });
    });
    this.subs.add(off);
    return () => {
      this.subs.delete(off);
      void off();
    };
  }

  /** Stop this agent's subscriptions; the Store stays open. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subs].map((s) => s()));
    this.subs.clear();
  }
}
