/**
 * Reads of DgentSaver: a checkpoint of the thread index as LangGraph's CheckpointTuple (values
 * read through the ValueStore, metadata and writes through the serde), and the history a
 * DeltaChannel rebuilds from.
 */
import type { RunnableConfig } from '@langchain/core/runnables';
import { maxChannelVersion, TASKS, type Checkpoint, type CheckpointMetadata, type CheckpointPendingWrite, type CheckpointTuple, type DeltaChannelHistory, type SerializerProtocol } from '@langchain/langgraph-checkpoint';
import type { Stored, ValueRef } from './records.js';
import type { IndexedCheckpoint } from './thread-index.js';
import { fromStoredArgs, remember, resolver, sortedWrites, type ThreadState } from './thread-state.js';
import type { ValueStore } from './values.js';

export interface TupleContext {
  serde: SerializerProtocol;
  values: ValueStore;
  /** the saver's getNextVersion (for checkpoints without channel versions) */
  nextVersion: () => string | number;
}

function load(ctx: TupleContext, s: Stored): Promise<unknown> {
  return ctx.serde.loadsTyped(...fromStoredArgs(s));
}

/** A checkpoint as LangGraph's tuple; `rememberValues`: array values become what the next put may extend. */
export async function toTuple(ctx: TupleContext, threadId: string, state: ThreadState, entry: IndexedCheckpoint, rememberValues: boolean): Promise<CheckpointTuple> {
  const { data } = entry;
  const [extra, metadata, loaded, pendingWrites] = await Promise.all([
    data.x ? (load(ctx, data.x) as Promise<Record<string, unknown>>) : {},
    load(ctx, data.m) as Promise<CheckpointMetadata>,
    Promise.all(Object.entries(entry.refs).map(async ([ch, ref]) => [ch, await ctx.values.read(ref, resolver(state))] as const)),
    Promise.all(sortedWrites(entry).map(async (w): Promise<CheckpointPendingWrite> => [w.task, w.channel, await load(ctx, w.value)])),
  ]);
  const channelValues: Record<string, unknown> = {};
  for (const [ch, { value, known }] of loaded) {
    channelValues[ch] = value;
    if (rememberValues && known) remember(state, `${data.ns}\0${ch}`, known);
  }
  const checkpoint = {
    ...extra,
    v: data.v,
    id: data.id,
    ts: data.ts,
    channel_values: channelValues,
    channel_versions: { ...entry.ver },
    versions_seen: structuredClone(entry.seen),
  } as Checkpoint;
  if (checkpoint.v < 4 && data.p !== undefined) await migratePendingSends(ctx, checkpoint, state, data.ns, data.p);
  const tuple: CheckpointTuple = {
    config: { configurable: { thread_id: threadId, checkpoint_ns: data.ns, checkpoint_id: data.id } },
    checkpoint,
    metadata,
    pendingWrites,
  };
  if (data.p !== undefined) tuple.parentConfig = { configurable: { thread_id: threadId, checkpoint_ns: data.ns, checkpoint_id: data.p } };
  return tuple;
}

/** Checkpoints before format 4 kept pending sends as writes of the parent; present them as the TASKS channel. */
async function migratePendingSends(ctx: TupleContext, checkpoint: Checkpoint, state: ThreadState, ns: string, parentId: string): Promise<void> {
  const parent = state.index.cps.get(ns)?.get(parentId);
  const sends = parent ? await Promise.all(sortedWrites(parent).filter((w) => w.channel === TASKS).map((w) => load(ctx, w.value))) : [];
  (checkpoint.channel_values as Record<string, unknown>)[TASKS] = sends;
  const versions = Object.values(checkpoint.channel_versions);
  (checkpoint.channel_versions as Record<string, unknown>)[TASKS] = versions.length > 0 ? maxChannelVersion(...versions) : ctx.nextVersion();
}

/**
 * The writes and seed a DeltaChannel needs, walking the parent chain in the index (no read per
 * ancestor): writes oldest to newest in LangGraph's order, the seed read once per channel.
 */
export async function deltaChannelHistory(ctx: TupleContext, state: ThreadState, config: RunnableConfig, ns: string, channels: string[]): Promise<Record<string, DeltaChannelHistory>> {
  const result: Record<string, DeltaChannelHistory> = {};
  const id = config.configurable?.checkpoint_id as string | undefined;
  const target = id ? state.index.get(ns, id) : state.index.latest(ns);
  const collected = new Map<string, CheckpointPendingWrite[]>(channels.map((c) => [c, []]));
  const seeds = new Map<string, ValueRef>();
  const remaining = new Set(channels);
  for (let cp = target?.data.p ? state.index.get(ns, target.data.p) : undefined; cp && remaining.size > 0; cp = cp.data.p ? state.index.get(ns, cp.data.p) : undefined) {
    const here = [...remaining].filter((ch) => cp!.refs[ch] !== undefined);
    const writes = sortedWrites(cp);
    for (let i = writes.length - 1; i >= 0; i -= 1) {
      const w = writes[i]!;
      if (remaining.has(w.channel)) collected.get(w.channel)!.push([w.task, w.channel, await load(ctx, w.value)]);
    }
    for (const ch of here) {
      seeds.set(ch, cp.refs[ch]!);
      remaining.delete(ch);
    }
  }
  for (const ch of channels) {
    result[ch] = { writes: collected.get(ch)!.reverse() };
    const ref = seeds.get(ch);
    if (ref) result[ch].seed = (await ctx.values.read(ref, resolver(state))).value;
  }
  return result;
}
