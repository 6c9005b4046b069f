/**
 * Channel values: the tail of an array appended to its parent's value, kept in the checkpoint (as
 * references to pending writes, or the items); values in value streams (whole, or the items
 * appended to the previous version, when a tail is too big to keep in the checkpoint); reading a
 * version back (a chain of tails walked in memory down to its base, one read per stream range).
 *
 * Append detection needs no opt-in from the graph: a new array value whose first `len` items are
 * the very objects of the previous version (same identity: LangGraph's reducers build new arrays
 * around the old items) is stored as its tail. Values are treated as immutable, as LangGraph's
 * reducers treat them: an item changed in place after it was stored is not seen.
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { LRUCache } from 'lru-cache';
import { ConcurrencyError, CorruptionError } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { fromStored, toStored, VALUE_APPEND, VALUE_SET } from './records.js';
import { newEventId } from './options.js';
import type { AppendRef, ChainRef, Range, RangeRef, Stored, ValueAppendData, ValueRef, ValueSetData, WriteElementRef, WritesData } from './records.js';
import { addedKeys, withAdded } from './json-additions.js';

/** Pending writes of the parent checkpoint to a channel, as the elements they hold (parsed JSON) and where each is. */
export interface WriteSource {
  elements: unknown[];
  refs: WriteElementRef[];
}

/** Finds a writes event by thread stream and revision (the thread index keeps them). */
export type WritesResolver = (stream: string, revision: number) => WritesData | undefined;

/** The last version of an array channel this saver wrote or read: what the next version may extend. */
export interface KnownArray {
  ref: ValueRef;
  arr: readonly unknown[];
  /** items of the version (`arr` may have grown in place since) */
  len: number;
}

export interface ValueStoreOptions {
  /** array values kept in memory by reference (0: none; every read deserialises) */
  cacheSize: number;
  /** values (not arrays) whose serialised form is at most this many bytes stay inline in the checkpoint */
  inlineMaxBytes: number;
  /** a whole value is stored again once this many items were appended since the last whole value (and at least as many as it had) */
  snapshotEvery: number;
  /** a value spread over more ranges than this is stored whole again */
  maxRanges: number;
  /** appended items that are not elements of pending writes stay in the checkpoint up to this size (serialised bytes) */
  inlineTailMaxBytes: number;
  /** array versions whose JSON text is kept in memory (>= 1) */
  textCacheSize: number;
}

export class ValueStore {
  /**
   * Recent array versions by reference: LangGraph reads the thread's head at the start of every
   * run, and the head is usually the version this process just wrote. A hit returns a new array
   * of the same items (LangGraph's reducers never change items in place), so a turn does not
   * deserialise the whole conversation again.
   */
  private readonly cache: LRUCache<ValueRef, { arr: readonly unknown[]; len: number }> | undefined;

  /**
   * The JSON text of recent array versions, by reference, when
   * every part is JSON: a read builds the text from the thread index once (and a newer version from
   * the nearest older one held here, adding its appended items), then every read deserialises that
   * one text through the serde, as another saver deserialises its blob. A reference never changes
   * what it stands for (the log is append-only; another writer's events make new references), so
   * nothing here is ever stale. Kept even with `cacheSize` 0: it holds text, not values.
   */
  private readonly texts: LRUCache<ValueRef, string>;

  constructor(
    private readonly log: EventLog,
    private readonly serde: () => SerializerProtocol,
    private readonly options: ValueStoreOptions,
  ) {
    this.cache = options.cacheSize > 0 ? new LRUCache({ max: options.cacheSize }) : undefined;
    this.texts = new LRUCache({ max: Math.max(1, options.textCacheSize) });
  }

  /** Keep an array version in memory under its reference (the index's object: the cache is by identity). */
  remember(known: KnownArray): KnownArray {
    this.cache?.set(known.ref, { arr: known.arr, len: known.len });
    return known;
  }

  /**
   * Items appended to the parent's value, kept in the checkpoint itself: as references to the
   * pending writes they are elements of (plus the keys the reducer added), or, when they are not
   * and are small, through serde. Undefined: store the value in its stream.
   */
  async tail(items: readonly unknown[], writes: WriteSource | undefined): Promise<AppendRef | undefined> {
    const [type, bytes] = await this.serde().dumpsTyped(items);
    const fw = fromWrites(type, bytes, items.length, writes);
    if (fw) return fw.a ? { '+': 1, w: fw.w, a: fw.a } : { '+': 1, w: fw.w };
    if (bytes.byteLength <= this.options.inlineTailMaxBytes) return { '+': 1, v: toStored([type, bytes]) };
    return undefined;
  }

  /** Store a new version of a channel in `stream`; returns its reference. */
  async write(stream: string, value: unknown, known: KnownArray | undefined, writes?: WriteSource): Promise<{ ref: ValueRef }> {
    if (Array.isArray(value) && known && 'r' in known.ref && extendsKnown(value, known)) {
      const items = value.slice(known.len);
      const ref = known.ref as RangeRef;
      if (items.length === 0) return { ref };
      const due = ref.n + items.length >= Math.max(this.options.snapshotEvery, ref.s) || ref.r.length >= this.options.maxRanges;
      if (!due) {
        const [type, bytes] = await this.serde().dumpsTyped(items);
        const data: ValueAppendData = fromWrites(type, bytes, items.length, writes) ?? { v: toStored([type, bytes]), n: items.length };
        const r = await this.appendTo(stream, ref.r, { type: VALUE_APPEND, data, id: newEventId() });
        return { ref: { r, n: ref.n + items.length, s: ref.s } };
      }
    }
    const [type, bytes] = await this.serde().dumpsTyped(value);
    if (!Array.isArray(value) && bytes.byteLength <= this.options.inlineMaxBytes) return { ref: { i: toStored([type, bytes]) } };
    const data: ValueSetData = { v: toStored([type, bytes]) };
    const res = await this.log.append(stream, [{ type: VALUE_SET, data, id: newEventId() }]);
    return { ref: { r: [[stream, res.revision, res.revision]] as Range[], n: 0, s: Array.isArray(value) ? value.length : 0 } };
  }

  /**
   * Append `event` right after the last range when that range ends at the stream's head (expected
   * revision: no other writer or branch came in between), so that the value stays one range;
   * otherwise start a new range.
   */
  private async appendTo(stream: string, ranges: Range[], event: { type: string; data: unknown; id: string }): Promise<Range[]> {
    const last = ranges[ranges.length - 1]!;
    if (last[0] === stream) {
      try {
        const res = await this.log.append(stream, [event], { expectedRevision: last[2] });
        return [...ranges.slice(0, -1), [stream, last[1], res.revision]];
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
    const res = await this.log.append(stream, [event]);
    return [...ranges, [stream, res.revision, res.revision]];
  }

  /** Read a value back; for arrays also what a later version may extend. */
  async read(ref: ValueRef, resolve: WritesResolver): Promise<{ value: unknown; known?: KnownArray }> {
    if ('i' in ref) return { value: await this.load(ref.i) };
    const hit = this.cache?.get(ref);
    if (hit) {
      const arr = hit.arr.slice(0, hit.len);
      return { value: arr, known: { ref, arr, len: hit.len } };
    }
    if ('+' in ref) throw new CorruptionError('an unresolved append reference was read');
    let events: RecordedEvent[] | undefined;
    let text = this.texts.get(ref);
    if (text !== undefined) {
      // held
    } else if ('b' in ref) text = await this.chainText(ref, resolve);
    else {
      events = await this.readRanges(ref);
      const inner = rangesText(events, resolve);
      if (inner !== undefined) this.texts.set(ref, (text = `[${inner}]`));
    }
    if (text !== undefined) {
      const arr = (await this.serde().loadsTyped('json', text)) as unknown;
      if (Array.isArray(arr)) return { value: arr, known: this.remember({ ref, arr, len: arr.length }) };
    }
    if ('b' in ref) {
      const arr = await this.readChain(ref, resolve);
      return { value: arr, known: this.remember({ ref, arr, len: arr.length }) };
    }
    const value = await this.loadEventByEvent(events ?? (await this.readRanges(ref)), resolve);
    return Array.isArray(value) ? { value, known: this.remember({ ref, arr: value, len: value.length }) } : { value };
  }

  /**
   * The JSON text of a chain (an array), undefined when a part is not JSON: built from
   * the nearest older version in the text cache (or the stored base) plus the items appended
   * since, and cached.
   */
  private async chainText(ref: ChainRef, resolve: WritesResolver): Promise<string | undefined> {
    const segments: ChainRef[] = [];
    let base = '';
    for (let r: ValueRef | null = ref; r; ) {
      const held = r !== ref ? this.texts.get(r) : undefined;
      if (held !== undefined) {
        base = held.slice(1, -1);
        break;
      }
      if ('b' in r) {
        segments.push(r);
        r = r.b;
        continue;
      }
      if (!('r' in r)) return undefined; // inline or unresolved: not an array version
      const inner = rangesText(await this.readRanges(r), resolve);
      if (inner === undefined) return undefined;
      this.texts.set(r, `[${inner}]`);
      base = inner;
      break;
    }
    const pieces = [base];
    for (let i = segments.length - 1; i >= 0; i -= 1) {
      const seg = segments[i]!;
      if (seg.v) {
        const inner = arrayInner(seg.v);
        if (inner === undefined) return undefined;
        pieces.push(inner);
      } else for (const item of referencedItems({ n: seg.w?.length ?? 0, w: seg.w, a: seg.a }, resolve, '')) pieces.push(JSON.stringify(item));
    }
    const text = `[${pieces.filter((p) => p.trim() !== '').join(',')}]`;
    this.texts.set(ref, text);
    return text;
  }

  /**
   * A chain of appends: walk back to its base (the empty array, a value in a stream, or a version
   * still in memory), then build the items: those in JSON as one text through one serde call.
   */
  private async readChain(ref: ChainRef, resolve: WritesResolver): Promise<unknown[]> {
    const segments: ChainRef[] = [];
    let base: readonly unknown[] = [];
    for (let r: ValueRef | null = ref; r; ) {
      const hit = r !== ref ? this.cache?.get(r) : undefined;
      if (hit) {
        base = hit.arr.slice(0, hit.len);
        break;
      }
      if ('b' in r) {
        segments.push(r);
        r = r.b;
        continue;
      }
      const v = (await this.read(r, resolve)).value;
      if (!Array.isArray(v)) throw new CorruptionError('items were appended to a value that is not an array');
      base = v;
      break;
    }
    const parts: unknown[][] = [base as unknown[]];
    let pending: string[] = [];
    const flush = async () => {
      if (pending.length === 0) return;
      parts.push((await this.serde().loadsTyped('json', `[${pending.join(',')}]`)) as unknown[]);
      pending = [];
    };
    for (let i = segments.length - 1; i >= 0; i -= 1) {
      const seg = segments[i]!;
      if (seg.v) {
        const v = seg.v;
        if (v.t === 'json' && v.s !== undefined && v.s.startsWith('[') && v.s.endsWith(']')) {
          const inner = v.s.slice(1, -1);
          if (inner.trim() !== '') pending.push(inner);
        } else {
          await flush();
          parts.push((await this.load(v)) as unknown[]);
        }
      } else {
        for (const item of referencedItems({ n: seg.w?.length ?? 0, w: seg.w, a: seg.a }, resolve, '')) pending.push(JSON.stringify(item));
      }
    }
    await flush();
    return parts.length === 1 ? [...parts[0]!] : ([] as unknown[]).concat(...parts);
  }

  private async loadEventByEvent(events: readonly RecordedEvent[], resolve: WritesResolver): Promise<unknown> {
    let value: unknown;
    for (const e of events) {
      if (e.type === VALUE_SET) value = await this.load((e.data as ValueSetData).v);
      else if (e.type === VALUE_APPEND) {
        const d = e.data as ValueAppendData;
        const items = d.v ? await this.load(d.v) : await this.serde().loadsTyped('json', JSON.stringify(referencedItems(d, resolve, e.stream)));
        value = (value as unknown[]).concat(items);
      }
    }
    return value;
  }

  private async readRanges(ref: RangeRef): Promise<RecordedEvent[]> {
    return (await Promise.all(ref.r.map(([stream, from, to]) => this.readRange(stream, from, to)))).flat();
  }

  private async readRange(stream: string, from: number, to: number): Promise<RecordedEvent[]> {
    const out: RecordedEvent[] = [];
    for await (const e of this.log.read(stream, { fromRevision: from, toRevision: to })) out.push(e as RecordedEvent);
    if (out.length !== to - from + 1) throw new CorruptionError(`a checkpoint references revisions ${from}..${to} of a value stream; ${out.length} events were read`, stream);
    return out;
  }

  load(s: Stored): Promise<unknown> {
    const [t, d] = fromStored(s);
    return this.serde().loadsTyped(t, d);
  }
}

/** The items of a JSON array text without its brackets, or undefined when it is not one. */
function arrayInner(v: Stored): string | undefined {
  if (v.t !== 'json' || v.s === undefined || !v.s.startsWith('[') || !v.s.endsWith(']')) return undefined;
  return v.s.slice(1, -1);
}

/**
 * When every part is JSON (the serde said 'json') and the whole value is an array: one JSON text
 * of all the items (without the brackets), deserialised by one serde call (as another saver reads
 * one blob), instead of a call per append.
 */
function rangesText(events: readonly RecordedEvent[], resolve: WritesResolver): string | undefined {
  const pieces: string[] = [];
  let whole = false;
  for (const e of events) {
    if (e.type === VALUE_SET) {
      const inner = arrayInner((e.data as ValueSetData).v);
      if (inner === undefined) return undefined;
      pieces.length = 0;
      pieces.push(inner);
      whole = true;
    } else if (e.type === VALUE_APPEND) {
      const d = e.data as ValueAppendData;
      if (d.v) {
        const inner = arrayInner(d.v);
        if (inner === undefined) return undefined;
        pieces.push(inner);
      } else pieces.push(referencedItems(d, resolve, e.stream).map((x) => JSON.stringify(x)).join(','));
    }
  }
  return whole ? pieces.filter((p) => p.trim() !== '').join(',') : undefined;
}

export function extendsKnown(value: readonly unknown[], known: KnownArray): boolean {
  if (value.length < known.len) return false;
  for (let i = 0; i < known.len; i += 1) if (value[i] !== known.arr[i]) return false;
  return true;
}

/** The append as references to pending writes, when each item is a written element plus added keys. */
function fromWrites(type: string, bytes: Uint8Array, n: number, writes: WriteSource | undefined): ValueAppendData | undefined {
  if (type !== 'json' || !writes || writes.elements.length !== n) return undefined;
  const items = JSON.parse(new TextDecoder().decode(bytes)) as unknown[];
  if (!Array.isArray(items) || items.length !== n) return undefined;
  const a: [string[], unknown][][] = [];
  for (let i = 0; i < n; i += 1) {
    const added = addedKeys(writes.elements[i], items[i]);
    if (!added) return undefined;
    a.push(added);
  }
  return { n, w: writes.refs, ...(a.some((x) => x.length > 0) ? { a } : {}) };
}

/** The items of an append stored as references to pending writes (parsed JSON, added keys set). */
function referencedItems(d: ValueAppendData, resolve: WritesResolver, stream: string): unknown[] {
  const parsed = new Map<string, unknown>();
  const used = new Set<string>();
  return (d.w ?? []).map(([s, rev, wi, ei], i) => {
    const key = `${s}#${rev}#${wi}`;
    if (!parsed.has(key)) {
      const stored = resolve(s, rev)?.w[wi]?.[2];
      if (stored?.s === undefined) throw new CorruptionError(`an appended value references writes ${key} that this thread does not hold`, stream);
      parsed.set(key, JSON.parse(stored.s));
    }
    const v = parsed.get(key);
    // the element was parsed for this call: set the keys in place unless another item uses it too
    const fresh = !used.has(`${key}#${ei}`);
    used.add(`${key}#${ei}`);
    return withAdded(Array.isArray(v) ? v[ei] : v, d.a?.[i] ?? [], fresh);
  });
}
