/**
 * What `put` stores for a checkpoint: each changed channel value once (an array that extends the
 * parent's value as the appended items only, kept in the checkpoint; other values inline when tiny,
 * else in the channel's value stream), and the maps as changes against the parent's.
 */
import type { ChannelVersions, Checkpoint, CheckpointMetadata, SerializerProtocol } from '@langchain/langgraph-checkpoint';
import { isDeepStrictEqual } from 'node:util';
import { toStored, type CheckpointData, type ValueRef } from './records.js';
import { diffMap, type IndexedCheckpoint, type IndexedWrite } from './thread-index.js';
import { pickKnown, writeSource, type ThreadState } from './thread-state.js';
import { extendsKnown, type ValueStore } from './values.js';

export interface CheckpointInput {
  checkpoint: Checkpoint;
  metadata: CheckpointMetadata;
  newVersions: ChannelVersions;
  ns: string;
  parentId: string | undefined;
}

export interface CheckpointContext {
  serde: SerializerProtocol;
  values: ValueStore;
  state: ThreadState;
  /** the thread's value stream of a channel (of `ns`) */
  valueStream: (ch: string) => string;
  /** pending writes of the parent stored in the same event as this checkpoint (not folded yet) */
  parentWrites?: readonly IndexedWrite[] | undefined;
}

/** The checkpoint as stored (refs of appends relative to `parent`), and its array values (to remember). */
export async function checkpointData(ctx: CheckpointContext, input: CheckpointInput): Promise<{ data: CheckpointData; parent: IndexedCheckpoint | undefined; arrays: [string, unknown[]][] }> {
  const { state, values } = ctx;
  const { checkpoint, metadata, newVersions, ns, parentId } = input;
  const { channel_values: channelValues = {}, channel_versions: versions = {}, versions_seen: seen = {}, id, ts, v, ...extra } = checkpoint;
  const parent = parentId !== undefined ? state.index.get(ns, parentId) : undefined;
  const arrays: [string, unknown[]][] = [];
  const stored = await Promise.all(
    Object.entries(channelValues as Record<string, unknown>).map(async ([ch, value]): Promise<[string, ValueRef | undefined]> => {
      if (value === undefined) return [ch, undefined];
      if (Array.isArray(value)) arrays.push([ch, value]);
      if (!(ch in newVersions)) return [ch, state.index.refAt(ns, ch, versions[ch], parentId)];
      const knownList = state.known.get(`${ns}\0${ch}`) ?? [];
      if (Array.isArray(value)) {
        // the parent's value plus the appended items, kept in the checkpoint (no value event)
        const base = parent?.refs[ch];
        const known = base ? knownList.find((k) => k.ref === base && extendsKnown(value, k)) : undefined;
        if (known || !base) {
          const items = value.slice(known?.len ?? 0);
          if (known && items.length === 0) return [ch, base];
          const tail = await values.tail(items, writeSource(parent, ch, ctx.parentWrites));
          if (tail) return [ch, tail];
        }
      }
      const known = Array.isArray(value) ? pickKnown(value, knownList) : undefined;
      // (not the writes of this checkpoint's own event: a value stream event must reference stored writes only)
      const out = await values.write(ctx.valueStream(ch), value, known, known ? writeSource(parent, ch) : undefined);
      return [ch, out.ref];
    }),
  );
  const refs: Record<string, ValueRef> = {};
  for (const [ch, ref] of stored) if (ref) refs[ch] = ref;
  // in stored ranges, the thread's own value stream of the channel is ''
  const own = (ch: string, ref: ValueRef): ValueRef => {
    if (!('r' in ref)) return ref;
    const mine = ctx.valueStream(ch);
    return { ...ref, r: ref.r.map((r) => (r[0] === mine ? ['', r[1], r[2]] : r)) };
  };
  // resolved chains (in memory) are compared by identity only: an unchanged channel keeps its object
  const refDiff = diffMap(parent?.refs ?? {}, refs, (a, b) => a === b || (!('b' in a) && !('b' in b) && isDeepStrictEqual(a, b)));
  if (refDiff.s) for (const ch of Object.keys(refDiff.s)) refDiff.s[ch] = own(ch, refDiff.s[ch]!);
  const data: CheckpointData = {
    ns,
    id,
    v,
    ts,
    ver: diffMap(parent?.ver ?? {}, { ...versions }, (a, b) => a === b),
    vs: diffMap(parent?.seen ?? {}, { ...seen }, (a, b) => isDeepStrictEqual(a, b)),
    refs: refDiff,
    m: toStored(await ctx.serde.dumpsTyped(metadata)),
  };
  // absent rather than undefined: the log's codec would spell out every undefined
  if (parentId !== undefined) data.p = parentId === state.index.newestId(ns) && parent ? '' : parentId;
  if (!parent) data.full = true;
  if (Object.keys(extra).length > 0) data.x = toStored(await ctx.serde.dumpsTyped(extra));
  return { data, parent, arrays };
}
