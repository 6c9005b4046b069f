/**
 * The compact form of checkpoint and writes events (format 2: types `lg.c` and `lg.w`; format 3,
 * `lg.b`, holds a checkpoint's pending writes and the checkpoint after them in one event; the first
 * format, `lg.checkpoint` and `lg.writes`, is still read). A LangGraph turn writes three checkpoints
 * and two writes events, so their envelope is most of what DgentSaver stores beside the messages:
 * - channel and node names, and task paths, are numbers into a dictionary of the thread stream (a
 *   name is spelled out, in `N`, by the first event that uses it; folding the stream in order
 *   rebuilds the dictionary);
 * - uuids (checkpoint ids, task ids, the ids the messages reducer adds) are 22 base64url characters;
 * - the parent is implicit when it is the namespace's newest checkpoint, `ts` is milliseconds after
 *   the parent's, the metadata is its top-level changes against the parent's;
 * - an appended item that is an element of a stored pending write is [revisions back, write,
 *   element, added id];
 * - JSON values are kept as JSON, not as a string of JSON (no escaped quotes), when that round-trips
 *   exactly.
 * Decoding needs the thread index as the writer saw it (the parent, the newest checkpoint, the
 * dictionary): appends are fenced, so a reader folding the stream in order sees exactly that.
 */
import { uuid5, type ChannelVersions } from '@langchain/langgraph-checkpoint';
import { CorruptionError } from '../core/errors.js';
import { TAG_MARK } from '../core/codec.js';
import type { Added, AppendRef, CheckpointData, MapDiff, Stored, ValueRef, WriteElementRef, WritesData } from './records.js';

type ChannelVersion = ChannelVersions[string];

/** Names of a thread stream, numbered in order of first use. */
export class Dict {
  readonly names: string[] = [];
  readonly ids = new Map<string, number>();

  add(name: string): void {
    if (this.ids.has(name)) return;
    this.ids.set(name, this.names.length);
    this.names.push(name);
  }

  name(i: unknown, stream: string): string {
    const n = typeof i === 'number' ? this.names[i] : undefined;
    if (n === undefined) throw new CorruptionError(`a compact event references name #${String(i)} that the stream has not defined`, stream);
    return n;
  }
}

/** Numbers for names while encoding one event; new names are listed (in order) for `N`. */
export class Namer {
  readonly fresh: string[] = [];
  private readonly local = new Map<string, number>();

  constructor(private readonly dict: Dict) {}

  id(name: string): number {
    const known = this.dict.ids.get(name) ?? this.local.get(name);
    if (known !== undefined) return known;
    const i = this.dict.names.length + this.fresh.length;
    this.fresh.push(name);
    this.local.set(name, i);
    return i;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A canonical (lower-case) uuid as '~' and 22 base64url characters; other strings as they are ('~' doubled first). */
export function packId(s: string): string {
  if (UUID.test(s)) return `~${Buffer.from(s.replace(/-/g, ''), 'hex').toString('base64url')}`;
  return s.startsWith('~') ? `~${s}` : s;
}

export function unpackId(s: string): string {
  if (!s.startsWith('~')) return s;
  if (s[1] === '~') return s.slice(1);
  const h = Buffer.from(s.slice(1), 'base64url').toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const JSON_INLINE_MAX = 16_384;

/** A serde output as kept in a compact event: JSON as JSON (`j`) when that gives back the very text. */
export function packStored(s: Stored): Record<string, unknown> {
  const t = s.t === 'json' ? {} : { t: s.t };
  if (s.c) return { ...t, c: s.c };
  if (s.b !== undefined) return { ...t, b: s.b };
  if (s.t === 'json' && s.s !== undefined && s.s.length <= JSON_INLINE_MAX && !s.s.includes(TAG_MARK) && !s.s.includes('"__proto__"')) {
    try {
      const j = JSON.parse(s.s) as unknown;
      if (JSON.stringify(j) === s.s) return { j };
    } catch {
      // not JSON: kept as text
    }
  }
  return { ...t, s: s.s ?? '' };
}

export function unpackStored(x: unknown, stream: string): Stored {
  if (typeof x !== 'object' || x === null) throw new CorruptionError('a compact event holds a malformed value', stream);
  const o = x as { t?: string; j?: unknown; s?: string; b?: Uint8Array; c?: [string, string] };
  const t = o.t ?? 'json';
  if ('j' in o) return { t, s: JSON.stringify(o.j) };
  if (o.c) return { t, c: o.c };
  if (o.b !== undefined) return { t, b: o.b };
  return { t, s: o.s ?? '' };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parsed JSON text that stringifies back to itself (so that a diff against it round-trips). */
function canonicalObject(s: Stored | undefined): Record<string, unknown> | undefined {
  if (!s || s.t !== 'json' || s.s === undefined || s.c || s.s.includes(TAG_MARK) || s.s.includes('"__proto__"')) return undefined;
  try {
    const v = JSON.parse(s.s) as unknown;
    return isObject(v) && JSON.stringify(v) === s.s ? v : undefined;
  } catch {
    return undefined;
  }
}

const ID_PATH = ['kwargs', 'id'];

function packAdded(a: Added | undefined): unknown {
  if (!a || a.length === 0) return undefined;
  if (a.length === 1 && typeof a[0]![1] === 'string' && a[0]![0].length === 2 && a[0]![0][0] === ID_PATH[0] && a[0]![0][1] === ID_PATH[1]) return packId(a[0]![1]);
  return a;
}

function unpackAdded(x: unknown): Added {
  if (x === undefined || x === 0) return [];
  if (typeof x === 'string') return [[[...ID_PATH], unpackId(x)]];
  return x as Added;
}

interface Place {
  /** the thread stream */
  stream: string;
  /** the revision of the event being encoded / decoded */
  rev: number;
}

function packItem(w: WriteElementRef, a: Added | undefined, at: Place): unknown {
  const first = w[0] === at.stream ? at.rev - w[1] : [w[0], w[1]];
  const added = packAdded(a);
  if (w[2] === 0 && w[3] === 0 && typeof first === 'number') {
    if (added === undefined) return first;
    if (typeof added === 'string') return [first, added];
  }
  return added === undefined ? [first, w[2], w[3]] : [first, w[2], w[3], added];
}

function unpackItem(x: unknown, at: Place): [WriteElementRef, Added] {
  if (typeof x === 'number') return [[at.stream, at.rev - x, 0, 0], []];
  if (Array.isArray(x) && x.length === 2) return [[at.stream, at.rev - (x[0] as number), 0, 0], unpackAdded(x[1])];
  const [first, wi, ei, added] = x as [number | [string, number], number, number, unknown];
  const ref: WriteElementRef = typeof first === 'number' ? [at.stream, at.rev - first, wi, ei] : [first[0], first[1], wi, ei];
  return [ref, unpackAdded(added)];
}

function packRef(ref: ValueRef, at: Place): unknown {
  if ('i' in ref) {
    const p = packStored(ref.i);
    return 'j' in p ? p : { i: p };
  }
  if ('r' in ref) return ref;
  if ('+' in ref) {
    if (ref.v) return { v: packStored(ref.v) };
    return (ref.w ?? []).map((w, i) => packItem(w, ref.a?.[i], at));
  }
  throw new Error('DgentSaver: a resolved value chain cannot be stored');
}

function unpackRef(x: unknown, at: Place): ValueRef {
  const o = x as { i?: unknown; j?: unknown; r?: unknown; v?: unknown };
  if (Array.isArray(x)) {
    const items = x.map((i) => unpackItem(i, at));
    const out: AppendRef = { '+': 1, w: items.map((i) => i[0]) };
    if (items.some((i) => i[1].length > 0)) out.a = items.map((i) => i[1]);
    return out;
  }
  if (typeof o !== 'object' || o === null) throw new CorruptionError('a compact checkpoint holds a malformed value reference', at.stream);
  if ('j' in o) return { i: unpackStored(o, at.stream) };
  if (o.i !== undefined) return { i: unpackStored(o.i, at.stream) };
  if (o.r !== undefined) return x as ValueRef;
  if (o.v !== undefined) return { '+': 1, v: unpackStored(o.v, at.stream) };
  throw new CorruptionError('a compact checkpoint holds a malformed value reference', at.stream);
}

function packMap<T>(namer: Namer, d: MapDiff<T>, value: (v: T) => unknown): { s?: unknown[]; d?: number[] } {
  const out: { s?: unknown[]; d?: number[] } = {};
  if (d.s) {
    const s: unknown[] = [];
    for (const [k, v] of Object.entries(d.s)) s.push(namer.id(k), value(v));
    if (s.length > 0) out.s = s;
  }
  if (d.d && d.d.length > 0) out.d = d.d.map((k) => namer.id(k));
  return out;
}

function unpackMap<T>(dict: Dict, s: unknown, d: unknown, value: (v: unknown) => T, stream: string): MapDiff<T> {
  const out: MapDiff<T> = {};
  if (Array.isArray(s)) {
    out.s = {};
    for (let i = 0; i < s.length; i += 2) out.s[dict.name(s[i], stream)] = value(s[i + 1]);
  }
  if (Array.isArray(d)) out.d = d.map((k) => dict.name(k, stream));
  return out;
}

/** What the writer and the reader both know of the parent when (de)coding a checkpoint. */
export interface CheckpointContext extends Place {
  dict: Dict;
  /** the resolved parent (undefined: none, or not held) */
  parent: CheckpointData | undefined;
  /** the parent's channel versions, resolved */
  parentVer?: Record<string, ChannelVersion> | undefined;
}

/** The version LangGraph gives changed channels after the parent's (integer versions): the largest + 1. */
function nextVersion(ver: Record<string, ChannelVersion> | undefined): number | undefined {
  const vs = Object.values(ver ?? {});
  if (vs.length === 0 || !vs.every((v) => typeof v === 'number')) return undefined;
  return Math.max(...(vs as number[])) + 1;
}

/** The metadata a checkpoint is stored as changes against: its parent's with `step` + 1. */
function derivedMetadata(parent: CheckpointData | undefined): Record<string, unknown> | undefined {
  const theirs = canonicalObject(parent?.m);
  if (!theirs) return undefined;
  return typeof theirs.step === 'number' ? { ...theirs, step: theirs.step + 1 } : theirs;
}

/** The compact form of a checkpoint (`p` '' stands for the namespace's newest, as in CheckpointData). */
export function encodeCheckpoint(d: CheckpointData, ctx: CheckpointContext, shared?: Namer): Record<string, unknown> {
  const namer = shared ?? new Namer(ctx.dict);
  const out: Record<string, unknown> = { i: packId(d.id) };
  if (d.ns !== '') out.n = d.ns;
  if (d.p === undefined) out.p = null;
  else if (d.p !== '') out.p = packId(d.p);
  if (d.v !== 4) out.v = d.v;
  const parentMs = ctx.parent ? Date.parse(ctx.parent.ts) : 0;
  const ms = Date.parse(d.ts);
  out.t = Number.isFinite(ms) && Number.isFinite(parentMs) && new Date(ms).toISOString() === d.ts ? ms - parentMs : d.ts;
  // changed channels usually all get the next version: listed in U, without it
  const next = nextVersion(ctx.parentVer);
  const verSet: Record<string, ChannelVersion> = {};
  const upped: number[] = [];
  for (const [k, v] of Object.entries(d.ver.s ?? {})) {
    if (next !== undefined && v === next) upped.push(namer.id(k));
    else verSet[k] = v;
  }
  if (upped.length > 0) out.U = upped;
  const ver = packMap(namer, { s: verSet, d: d.ver.d }, (v) => v);
  const vs = packMap(namer, d.vs, (m: Record<string, ChannelVersion>) => {
    const flat: unknown[] = [];
    for (const [k, v] of Object.entries(m)) flat.push(namer.id(k), v);
    return flat;
  });
  const refs = packMap(namer, d.refs, (r) => packRef(r, ctx));
  if (ver.s) out.V = ver.s;
  if (ver.d) out.Vd = ver.d;
  if (vs.s) out.S = vs.s;
  if (vs.d) out.Sd = vs.d;
  if (refs.s) out.R = refs.s;
  if (refs.d) out.Rd = refs.d;
  if (d.full) out.f = 1;
  const mine = canonicalObject(d.m);
  const theirs = derivedMetadata(ctx.parent);
  if (mine && theirs) {
    const set: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(mine)) if (!(k in theirs) || JSON.stringify(theirs[k]) !== JSON.stringify(v)) set[k] = v;
    const del = Object.keys(theirs).filter((k) => !(k in mine));
    // the parent's key order is kept by a diff; the metadata's own order only when it is the same
    const order = Object.keys({ ...theirs, ...mine }).filter((k) => k in mine);
    if (order.join('\0') !== Object.keys(mine).join('\0')) out.m = packStored(d.m);
    else if (del.length > 0) out.M = [set, del];
    else if (Object.keys(set).length > 0) out.M = [set];
    // neither m nor M: the parent's with step + 1
  } else out.m = packStored(d.m);
  if (d.x) out.x = packStored(d.x);
  if (!shared && namer.fresh.length > 0) out.N = namer.fresh;
  return out;
}

/** A compact checkpoint back as CheckpointData (adds its new names to the dictionary). */
export function decodeCheckpoint(raw: unknown, ctx: CheckpointContext): CheckpointData {
  const o = raw as Record<string, unknown>;
  const stream = ctx.stream;
  if (typeof o !== 'object' || o === null || typeof o.i !== 'string') throw new CorruptionError('a compact checkpoint event is malformed', stream);
  for (const n of (o.N as string[] | undefined) ?? []) ctx.dict.add(n);
  const parentMs = ctx.parent ? Date.parse(ctx.parent.ts) : 0;
  const ts = typeof o.t === 'number' ? new Date(parentMs + o.t).toISOString() : String(o.t);
  let m: Stored;
  if (o.m === undefined) {
    const base = derivedMetadata(ctx.parent);
    if (!base) throw new CorruptionError('a compact checkpoint holds metadata changes against a parent this thread does not hold', stream);
    const [set, del] = (o.M ?? [{}]) as [Record<string, unknown>, string[] | undefined];
    const next: Record<string, unknown> = { ...base, ...set };
    for (const k of del ?? []) delete next[k];
    m = { t: 'json', s: JSON.stringify(next) };
  } else m = unpackStored(o.m, stream);
  const d: CheckpointData = {
    ns: (o.n as string | undefined) ?? '',
    id: unpackId(o.i),
    v: (o.v as number | undefined) ?? 4,
    ts,
    ver: unpackMap(ctx.dict, o.V, o.Vd, (v) => v as ChannelVersion, stream),
    vs: unpackMap(
      ctx.dict,
      o.S,
      o.Sd,
      (flat) => {
        const m2: Record<string, ChannelVersion> = {};
        const f = flat as unknown[];
        for (let i = 0; i < f.length; i += 2) m2[ctx.dict.name(f[i], stream)] = f[i + 1] as ChannelVersion;
        return m2;
      },
      stream,
    ),
    refs: unpackMap(ctx.dict, o.R, o.Rd, (r) => unpackRef(r, ctx), stream),
    m,
  };
  if (Array.isArray(o.U)) {
    const next = nextVersion(ctx.parentVer);
    if (next === undefined) throw new CorruptionError('a compact checkpoint holds next versions of a parent this thread does not hold', stream);
    d.ver.s ??= {};
    for (const k of o.U) d.ver.s[ctx.dict.name(k, stream)] = next;
  }
  if (o.p === undefined) d.p = '';
  else if (o.p !== null) d.p = unpackId(String(o.p));
  if (o.f === 1) d.full = true;
  if (o.x !== undefined) d.x = unpackStored(o.x, stream);
  return d;
}

/** What both sides know of a writes event's checkpoint (from the thread index): LangGraph's step of its tasks, its channels. */
export interface TaskContext {
  step: number;
  channels: readonly string[];
}

const PULL_PATH = '~__pregel_pull, ';

/** The id LangGraph gives the pull task `name` triggered by `trigger` at `step` of checkpoint `cp` (see its _prepareSingleTask). */
function pullTaskId(ns: string, cp: string, step: number, name: string, trigger: string): string {
  return uuid5(JSON.stringify([ns === '' ? name : `${ns}|${name}`, String(step), name, '__pregel_pull', [trigger]]), cp);
}

/**
 * A pull task's id (a uuid5 of the checkpoint id, the step, the node and its trigger) as the
 * number of its trigger channel in the dictionary, when recomputing it gives back the very id.
 */
function packTask(d: WritesData, namer: Namer, ctx: TaskContext | undefined): string | number {
  if (ctx && d.path.startsWith(PULL_PATH) && UUID.test(d.task) && UUID.test(d.cp)) {
    const name = d.path.slice(PULL_PATH.length);
    for (const trigger of ctx.channels) if (pullTaskId(d.ns, d.cp, ctx.step, name, trigger) === d.task) return namer.id(trigger);
  }
  return packId(d.task);
}

/**
 * The compact form of a writes event; `cp` is left out when it is the namespace's newest
 * checkpoint; `task` (the writes' checkpoint as the index holds it) lets a pull task's id be
 * stored as its trigger (format 3 only: in a batch).
 */
export function encodeWrites(d: WritesData, dict: Dict, newestId: string | undefined, shared?: Namer, task?: TaskContext): Record<string, unknown> {
  const namer = shared ?? new Namer(dict);
  // in a batch, a reference to a key of the checkpoint's input (`c`) names it by numbers
  const value = (v: Stored): unknown => (shared && v.c ? { ...packStored(v), c: [namer.id(v.c[0]), namer.id(v.c[1])] } : packStored(v));
  const out: Record<string, unknown> = { k: packTask(d, namer, task), p: namer.id(d.path), w: d.w.map(([ch, idx, v]) => [namer.id(ch), idx, value(v)]) };
  if (d.ns !== '') out.n = d.ns;
  if (d.cp !== newestId) out.c = packId(d.cp);
  if (!shared && namer.fresh.length > 0) out.N = namer.fresh;
  return out;
}

/**
 * The batch form (format 3, type `lg.b`): the pending writes of one checkpoint (`W`, each a writes
 * event's compact form) and, usually, the checkpoint written right after them (its compact fields at
 * the top level), in one event. A LangGraph step stores its tasks' writes, then the next checkpoint:
 * one event instead of two saves the log's per-event cost. The names new to the stream are listed
 * once, in `N`; a reader folds the writes (in order) before the checkpoint, so an appended item of the
 * checkpoint may reference a write of the same event (0 revisions back).
 */
export function encodeBatch(
  writes: readonly WritesData[],
  checkpoint: { data: CheckpointData; ctx: CheckpointContext } | undefined,
  dict: Dict,
  newestId: (ns: string) => string | undefined,
  task: (ns: string, cp: string) => TaskContext | undefined,
): Record<string, unknown> {
  const namer = new Namer(dict);
  const W = writes.map((w) => encodeWrites(w, dict, newestId(w.ns), namer, task(w.ns, w.cp)));
  const out: Record<string, unknown> = checkpoint ? encodeCheckpoint(checkpoint.data, checkpoint.ctx, namer) : {};
  out.W = W;
  if (namer.fresh.length > 0) out.N = namer.fresh;
  return out;
}

/** The parts of a batch event: its writes events (compact) and its checkpoint (compact; undefined when none). */
export function splitBatch(raw: unknown, stream: string): { names: string[]; writes: unknown[]; checkpoint: Record<string, unknown> | undefined } {
  const o = raw as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || !Array.isArray(o.W)) throw new CorruptionError('a batch event is malformed', stream);
  const { W, N, ...rest } = o;
  return { names: (N as string[] | undefined) ?? [], writes: W as unknown[], checkpoint: rest.i !== undefined ? rest : undefined };
}

export function decodeWrites(raw: unknown, dict: Dict, newestOf: (ns: string) => string | undefined, stream: string, taskOf?: (ns: string, cp: string) => TaskContext | undefined): WritesData {
  const o = raw as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || !Array.isArray(o.w)) throw new CorruptionError('a compact writes event is malformed', stream);
  for (const n of (o.N as string[] | undefined) ?? []) dict.add(n);
  const ns = (o.n as string | undefined) ?? '';
  const cp = o.c !== undefined ? unpackId(String(o.c)) : newestOf(ns);
  if (cp === undefined) throw new CorruptionError('a compact writes event is for the newest checkpoint of a namespace that has none', stream);
  const path = dict.name(o.p, stream);
  let task: string;
  if (typeof o.k === 'number') {
    const ctx = taskOf?.(ns, cp);
    if (!ctx || !path.startsWith(PULL_PATH)) throw new CorruptionError(`a compact writes event derives its task id from checkpoint ${cp}, which this thread does not hold`, stream);
    task = pullTaskId(ns, cp, ctx.step, path.slice(PULL_PATH.length), dict.name(o.k, stream));
  } else task = unpackId(String(o.k));
  return {
    ns,
    cp,
    task,
    path,
    w: (o.w as [number, number, unknown][]).map(([ch, idx, v]) => {
      const s = unpackStored(v, stream);
      if (s.c) s.c = [typeof s.c[0] === 'number' ? dict.name(s.c[0], stream) : s.c[0], typeof s.c[1] === 'number' ? dict.name(s.c[1], stream) : s.c[1]];
      return [dict.name(ch, stream), idx, s];
    }),
  };
}
