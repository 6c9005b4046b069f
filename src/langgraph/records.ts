/**
 * What DgentSaver appends to the log: the event types, their payloads, and how a value that went
 * through the saver's `serde` is kept in an event.
 *
 * Two kinds of streams per thread:
 * - the thread stream (`<prefix>t:<thread>`): checkpoints (small: ids, versions, metadata and a
 *   reference per channel), pending writes, and lifecycle events (deleted, pruned, ttl, link);
 * - one value stream per (thread, namespace, channel) (`<prefix>v:...`) holding channel values that
 *   are not tiny: a `set` event carries a whole value, an `append` event only the items appended to
 *   the previous version of an append-only channel.
 *
 * A channel value is referenced by a list of contiguous revision ranges of value streams: the fold
 * of the events in those ranges (a `set`, then `append`s) is the value. A range is read with one
 * `read` call, so a value costs one read per range, whatever the thread's length; forks and copies
 * reference the ranges of the thread they came from instead of copying them.
 */
import type { ChannelVersions } from '@langchain/langgraph-checkpoint';

type ChannelVersion = ChannelVersions[string];

/** Event types (also the `types` filter of readAll when listing every thread). */
export const CHECKPOINT = 'lg.checkpoint';
export const WRITES = 'lg.writes';
export const DELETED = 'lg.deleted';
export const PRUNED = 'lg.pruned';
export const TTL = 'lg.ttl';
export const LINK = 'lg.link';
export const VALUE_SET = 'lg.set';
export const VALUE_APPEND = 'lg.append';
/** compact forms (format 2, see codec.ts): a checkpoint, pending writes */
export const CHECKPOINT_C = 'lg.c';
export const WRITES_C = 'lg.w';
/** format 3 (see codec.ts): pending writes and, usually, the checkpoint after them, in one event */
export const BATCH = 'lg.b';

/**
 * A serde output as stored: `s` the text when the serde said 'json', else `b` the bytes. Text, not
 * parsed JSON: reading it back is one native JSON.parse by the log instead of a walk of the tree.
 */
export interface Stored {
  t: string;
  s?: string;
  b?: Uint8Array;
  /** (pending writes only) the text is that of key [1] of the inline value of channel [0] of the checkpoint */
  c?: [channel: string, key: string];
}

/** A contiguous revision range of a value stream: [stream, from, to] (inclusive). */
export type Range = [stream: string, from: number, to: number];

/** Keys a reducer added to a written element: [path, value] pairs. */
export type Added = [string[], unknown][];

/**
 * (stored in a checkpoint) the parent checkpoint's value of the channel plus appended items: elements
 * of pending writes already stored (`w`, with `a` the keys the reducer added per item), or the items
 * themselves through serde (`v`, one array).
 */
export interface AppendRef {
  '+': 1;
  w?: WriteElementRef[] | undefined;
  a?: Added[] | undefined;
  v?: Stored | undefined;
}

/** (in memory) what an AppendRef resolves to: the base value (null: the empty array) plus the items. */
export interface ChainRef {
  b: ValueRef | null;
  w?: WriteElementRef[] | undefined;
  a?: Added[] | undefined;
  v?: Stored | undefined;
}

/** Where a channel value lives. */
export type ValueRef =
  /** inline: a tiny value kept in the checkpoint event itself */
  | { i: Stored }
  /** ranges of value streams; `n` items appended since the last `set`, `s` items in that set */
  | { r: Range[]; n: number; s: number }
  | AppendRef
  | ChainRef;

export type RangeRef = Extract<ValueRef, { r: Range[] }>;

/** A map stored as its changes against the parent checkpoint's: keys set, keys deleted. */
export interface MapDiff<T> {
  s?: Record<string, T> | undefined;
  d?: string[] | undefined;
}

/**
 * A checkpoint. `ver` (channel_versions), `vs` (versions_seen) and `refs` (where each channel value
 * is) are stored as changes against the parent's (whole when `full`, i.e. the writer had no
 * parent): a step that changes one channel stores one entry, not the thread's every channel. In
 * `refs`, a range whose stream is '' is the thread's own value stream of that namespace and channel.
 */
export interface CheckpointData {
  ns: string;
  id: string;
  /** parent checkpoint id (same namespace); '' for the namespace's newest checkpoint when written */
  p?: string | undefined;
  v: number;
  ts: string;
  ver: MapDiff<ChannelVersion>;
  vs: MapDiff<Record<string, ChannelVersion>>;
  refs: MapDiff<ValueRef>;
  /** the maps are whole, not changes */
  full?: true | undefined;
  /** the metadata, through serde */
  m: Stored;
  /** fields of the checkpoint other than the above, through serde (none in format 4) */
  x?: Stored | undefined;
}

export interface WritesData {
  ns: string;
  cp: string;
  task: string;
  path: string;
  /** [channel, idx, value] */
  w: [string, number, Stored][];
}

export interface PrunedData {
  /** [namespace, checkpoint id] of the checkpoints removed */
  ids: [string, string][];
}

export interface TtlData {
  /** time to live after the thread's last write, or null for none */
  ms: number | null;
}

export interface LinkData {
  /** the thread stream copied from, as of `upTo` */
  from: string;
  upTo: number;
  /** only these [namespace, id] (a fork); absent: everything */
  only?: [string, string][] | undefined;
}

export interface ValueSetData {
  v: Stored;
}

export interface ValueAppendData {
  /** the appended items, as one array through serde (absent when `w` says where they are) */
  v?: Stored | undefined;
  /** number of items appended */
  n: number;
  /**
   * The items are elements of pending writes already stored (what a reducer appends is usually
   * what the node wrote): [thread stream, writes event revision, index in its `w`, element index]
   * per item, with `a` the keys the reducer added (an id) as [path, value] pairs per item.
   */
  w?: WriteElementRef[] | undefined;
  a?: [string[], unknown][][] | undefined;
}

export type WriteElementRef = [stream: string, revision: number, write: number, element: number];

const utf8 = new TextDecoder();

/** A serde output ([type, bytes]) as stored. */
export function toStored([type, bytes]: [string, Uint8Array]): Stored {
  if (type === 'json') return { t: type, s: utf8.decode(bytes) };
  return { t: type, b: bytes };
}

/** The arguments `serde.loadsTyped` takes back. */
export function fromStored(s: Stored): [string, Uint8Array | string] {
  return [s.t, s.s ?? s.b ?? new Uint8Array()];
}
