/**
 * Channel values in value streams: write a new version (whole, or only the items appended to the
 * previous version), read a version back (one read per range).
 *
 * Append detection needs no opt-in from the graph: a new array value whose first `len` items are
 * the very objects of the previous version (same identity: LangGraph's reducers build new arrays
 * around the old items) is stored as its tail. Values are treated as immutable, as LangGraph's
 * reducers treat them: an item changed in place after it was stored is not seen.
 */
import type { SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { ConcurrencyError, CorruptionError } from '../core/errors.js';
import type { EventLog, RecordedEvent } from '../streams/event-log.js';
import { fromStored, toStored, VALUE_APPEND, VALUE_SET } from './records.js';
import { newEventId } from './options.js';
import type { Range, Stored, ValueAppendData, ValueRef, ValueSetData } from './records.js';

/** The last version of an array channel this saver wrote or read: what the next version may extend. */
export interface KnownArray {
  ref: Extract<ValueRef, { r: Range[] }>;
  arr: readonly unknown[];
  /** items of the version (`arr` may have grown in place since) */
  len: number;
}

export interface ValueStoreOptions {
  /** values (not arrays) whose serialised form is at most this many bytes stay inline in the checkpoint */
  inlineMaxBytes: number;
  /** a whole value is stored again once this many items were appended since the last whole value (and at least as many as it had) */
  snapshotEvery: number;
  /** a value spread over more ranges than this is stored whole again */
  maxRanges: number;
}

export class ValueStore {
  constructor(
    private readonly log: EventLog,
    private readonly serde: () => SerializerProtocol,
    private readonly options: ValueStoreOptions,
  ) {}

  /** Store a new version of a channel in `stream`; returns its reference and, for arrays, what a later version may extend. */
  async write(stream: string, value: unknown, known: KnownArray | undefined): Promise<{ ref: ValueRef; known?: KnownArray }> {
    if (Array.isArray(value) && known && extendsKnown(value, known)) {
      const items = value.slice(known.len);
      const { ref } = known;
      if (items.length === 0) return { ref, known: { ref, arr: value, len: value.length } };
      const due = ref.n + items.length >= Math.max(this.options.snapshotEvery, ref.s) || ref.r.length >= this.options.maxRanges;
      if (!due) {
        const data: ValueAppendData = { v: toStored(await this.serde().dumpsTyped(items)), n: items.length };
        const r = await this.appendTo(stream, ref.r, { type: VALUE_APPEND, data, id: newEventId() });
        const next = { r, n: ref.n + items.length, s: ref.s };
        return { ref: next, known: { ref: next, arr: value, len: value.length } };
      }
    }
    const [type, bytes] = await this.serde().dumpsTyped(value);
    if (!Array.isArray(value) && bytes.byteLength <= this.options.inlineMaxBytes) return { ref: { i: toStored([type, bytes]) } };
    const data: ValueSetData = { v: toStored([type, bytes]) };
    const res = await this.log.append(stream, [{ type: VALUE_SET, data, id: newEventId() }]);
    const ref = { r: [[stream, res.revision, res.revision]] as Range[], n: 0, s: Array.isArray(value) ? value.length : 0 };
    return Array.isArray(value) ? { ref, known: { ref, arr: value, len: value.length } } : { ref };
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
  async read(ref: ValueRef): Promise<{ value: unknown; known?: KnownArray }> {
    if ('i' in ref) return { value: await this.load(ref.i) };
    const parts = await Promise.all(ref.r.map(([stream, from, to]) => this.readRange(stream, from, to)));
    let value: unknown;
    for (const events of parts) {
      for (const e of events) {
        if (e.type === VALUE_SET) value = await this.load((e.data as ValueSetData).v);
        else if (e.type === VALUE_APPEND) value = (value as unknown[]).concat(await this.load((e.data as ValueAppendData).v));
      }
    }
    return Array.isArray(value) ? { value, known: { ref, arr: value, len: value.length } } : { value };
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

function extendsKnown(value: readonly unknown[], known: KnownArray): boolean {
  if (value.length < known.len) return false;
  for (let i = 0; i < known.len; i += 1) if (value[i] !== known.arr[i]) return false;
  return true;
}
