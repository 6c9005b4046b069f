/**
 * The compact event form of DgentSaver (format 2): any checkpoint and writes event, encoded by a
 * writer and stored through the log's codec, decodes to exactly what was written for a reader that
 * folded the same stream (same dictionary, same parent, same newest checkpoint); and a thread
 * written in format 1 (lg.checkpoint / lg.writes / lg.set / lg.append) stays readable and writable.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decode, encode, MemoryEventLog } from '../src/index.js';
import { DgentSaver } from '../src/langgraph.js';
import { uuid5 } from '@langchain/langgraph-checkpoint';
import { decodeCheckpoint, decodeWrites, Dict, encodeBatch, encodeCheckpoint, encodeWrites, packId, splitBatch, unpackId, type TaskContext } from '../src/langgraph/codec.js';
import type { CheckpointData, MapDiff, Stored, ValueRef, WriteElementRef, WritesData } from '../src/langgraph/records.js';

const STREAM = 'lg:t:thread';
const uuid = fc.uuid().map((u) => u.toLowerCase());
const id = fc.oneof(uuid, fc.string({ maxLength: 12 }), fc.string({ maxLength: 6 }).map((s) => `~${s}`), fc.constant('~~x'));
const name = fc.oneof(fc.constantFrom('messages', '__start__', 'branch:to:agent', 'agent', 'x'), fc.string({ maxLength: 8 }));
const version = fc.oneof(fc.integer({ min: 1, max: 5000 }), fc.string({ maxLength: 8 }));
const json = fc.jsonValue({ maxDepth: 3 });
const stored: fc.Arbitrary<Stored> = fc.oneof(
  json.map((v) => ({ t: 'json', s: JSON.stringify(v) })),
  fc.string({ maxLength: 20 }).map((s) => ({ t: 'json', s })), // not canonical JSON: kept as text
  fc.uint8Array({ maxLength: 8 }).map((b) => ({ t: 'bytes', b })),
  fc.tuple(name, name).map(([a, b]) => ({ t: 'json', c: [a, b] as [string, string] })),
);
const ts = fc.integer({ min: 0, max: 4_000_000_000_000 }).map((ms) => new Date(ms).toISOString());
const metadata = fc.oneof(
  fc.record({ source: fc.constantFrom('input', 'loop', 'update'), step: fc.integer({ min: -1, max: 2000 }), parents: fc.constant({}) }).map((m) => ({ t: 'json', s: JSON.stringify(m) })),
  stored.filter((s) => s.c === undefined),
);
const added = fc.oneof(
  fc.constant(undefined),
  uuid.map((u) => [[['kwargs', 'id'], u]] as [string[], unknown][]),
  fc.array(fc.tuple(fc.array(fc.string({ maxLength: 4 }), { minLength: 1, maxLength: 2 }), json), { maxLength: 2 }),
);
const selfRev = 10_000;
const writeRef: fc.Arbitrary<WriteElementRef> = fc.oneof(
  fc.tuple(fc.constant(STREAM), fc.integer({ min: 0, max: selfRev - 1 }), fc.nat(3), fc.nat(3)),
  fc.tuple(fc.constant('lg:t:other'), fc.nat(500), fc.nat(3), fc.nat(3)),
);
const ref: fc.Arbitrary<ValueRef> = fc.oneof(
  stored.filter((s) => s.c === undefined).map((i) => ({ i })),
  fc.record({ r: fc.array(fc.tuple(fc.constantFrom('', 'lg:v:other'), fc.nat(50), fc.nat(50)), { minLength: 1, maxLength: 3 }), n: fc.nat(9), s: fc.nat(9) }),
  fc.array(fc.tuple(writeRef, added), { minLength: 0, maxLength: 3 }).map((items) => {
    const r: ValueRef = { '+': 1, w: items.map((i) => i[0]) };
    if (items.some((i) => i[1] !== undefined && i[1].length > 0)) r.a = items.map((i) => i[1] ?? []);
    return r;
  }),
  stored.filter((s) => s.c === undefined).map((v) => ({ '+': 1 as const, v })),
);
function mapDiff<T>(value: fc.Arbitrary<T>): fc.Arbitrary<MapDiff<T>> {
  return fc.record({ s: fc.option(fc.dictionary(name, value, { maxKeys: 4 }), { nil: undefined }), d: fc.option(fc.uniqueArray(name, { maxLength: 3 }), { nil: undefined }) }, { requiredKeys: [] });
}
const checkpoint: fc.Arbitrary<CheckpointData> = fc.record(
  {
    ns: fc.oneof(fc.constant(''), fc.string({ maxLength: 6 })),
    id,
    v: fc.constantFrom(1, 4),
    ts: fc.oneof(ts, fc.string({ maxLength: 10 })),
    ver: mapDiff(version),
    vs: mapDiff(fc.dictionary(name, version, { maxKeys: 3 })),
    refs: mapDiff(ref),
    m: metadata,
    p: fc.option(fc.oneof(fc.constant(''), id), { nil: undefined }),
    full: fc.option(fc.constant(true as const), { nil: undefined }),
    x: fc.option(stored.filter((s) => s.c === undefined), { nil: undefined }),
  },
  { requiredKeys: ['ns', 'id', 'v', 'ts', 'ver', 'vs', 'refs', 'm'] },
);

/** Without keys whose value is undefined (the log's codec keeps them; the compact form leaves them out). */
function clean<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_, x: unknown) => (x instanceof Uint8Array ? { bytes: [...x] } : x))) as T;
}

/** A map diff's meaning: an empty `s` or `d` is the same as none. */
function norm(d: CheckpointData): CheckpointData {
  const m = <T,>(x: MapDiff<T>): MapDiff<T> => ({ ...(x.s && Object.keys(x.s).length > 0 ? { s: x.s } : {}), ...(x.d && x.d.length > 0 ? { d: x.d } : {}) });
  return clean({ ...d, ver: m(d.ver), vs: m(d.vs), refs: m(d.refs) });
}

/** A dictionary that saw the same names (what a reader folding the same stream has). */
function twin(d: Dict): Dict {
  const t = new Dict();
  for (const n of d.names) t.add(n);
  return t;
}

describe('DgentSaver compact events', () => {
  it('ids: a canonical uuid packs to 23 characters, anything else round-trips', () => {
    fc.assert(
      fc.property(id, (s) => {
        expect(unpackId(packId(s))).toBe(s);
        if (/^[0-9a-f-]{36}$/.test(s)) expect(packId(s)).toHaveLength(23);
      }),
    );
  });

  it('a checkpoint decodes, after the log codec, to what was written, for any parent and dictionary', () => {
    fc.assert(
      fc.property(checkpoint, fc.option(checkpoint, { nil: undefined }), fc.option(fc.dictionary(name, fc.integer({ min: 1, max: 5000 }), { maxKeys: 4 }), { nil: undefined }), fc.array(name, { maxLength: 4 }), fc.array(name, { maxLength: 3 }), (d, parent, parentVer, seen, bumped) => {
        // channels changed to the parent's largest version + 1 (what LangGraph does; stored without it)
        const vs = Object.values(parentVer ?? {});
        if (vs.length > 0) for (const ch of bumped) (d.ver.s ??= {})[ch] = Math.max(...vs) + 1;
        const writer = new Dict();
        for (const n of seen) writer.add(n);
        const reader = twin(writer);
        const raw = decode(encode(encodeCheckpoint(d, { dict: writer, parent, parentVer, stream: STREAM, rev: selfRev })));
        const back = decodeCheckpoint(raw, { dict: reader, parent, parentVer, stream: STREAM, rev: selfRev });
        expect(norm(back)).toEqual(norm(d));
        // the reader's dictionary now holds every name the event used: written again, it spells none out
        expect(reader.names.slice(0, writer.names.length)).toEqual(writer.names);
        expect(encodeCheckpoint(d, { dict: reader, parent, parentVer, stream: STREAM, rev: selfRev }).N).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('a writes event decodes to what was written; its checkpoint is implicit when it is the newest', () => {
    const writes: fc.Arbitrary<WritesData> = fc.record({ ns: fc.oneof(fc.constant(''), fc.string({ maxLength: 4 })), cp: id, task: id, path: fc.string({ maxLength: 20 }), w: fc.array(fc.tuple(name, fc.integer({ min: -3, max: 5 }), stored), { maxLength: 4 }) });
    fc.assert(
      fc.property(writes, fc.option(id, { nil: undefined }), fc.boolean(), (w, other, newest) => {
        const writer = new Dict();
        const reader = twin(writer);
        const newestId = newest ? w.cp : other;
        const raw = decode(encode(encodeWrites(w, writer, newestId))) as Record<string, unknown>;
        if (newest) expect(raw.c).toBeUndefined();
        expect(clean(decodeWrites(raw, reader, () => newestId, STREAM))).toEqual(clean(w));
      }),
      { numRuns: 300 },
    );
  });

  it('a batch (format 3: writes, then maybe a checkpoint) decodes to what was written; pull task ids LangGraph would compute are stored as their trigger', () => {
    const channels = ['messages', '__start__', 'branch:to:agent'];
    const ctx: TaskContext = { step: 3, channels };
    // LangGraph's id of a pull task (its _prepareSingleTask), or any other id
    const task = fc.oneof(
      fc.tuple(fc.constantFrom(...channels), fc.constantFrom('agent', 'tools')).map(([trigger, node]) => ({ node, trigger })),
      id.map((t) => ({ id: t })),
    );
    const writes = fc.record({ ns: fc.constantFrom('', 'sub'), cp: fc.oneof(uuid, id), task, pull: fc.boolean(), w: fc.array(fc.tuple(name, fc.integer({ min: -3, max: 5 }), stored), { maxLength: 3 }) });
    fc.assert(
      fc.property(fc.array(writes, { minLength: 1, maxLength: 4 }), fc.option(checkpoint, { nil: undefined }), fc.option(id, { nil: undefined }), fc.boolean(), (ws, cp, newest, known) => {
        const data: WritesData[] = ws.map((w) => {
          const node = 'node' in w.task ? w.task.node : 'agent';
          const path = w.pull || 'node' in w.task ? `~__pregel_pull, ${node}` : '~__pregel_push, 0';
          const taskId = 'node' in w.task ? uuid5(JSON.stringify([w.ns === '' ? node : `${w.ns}|${node}`, String(ctx.step), node, '__pregel_pull', [w.task.trigger]]), /^[0-9a-f-]{36}$/.test(w.cp) ? w.cp : '6ba7b810-9dad-11d1-80b4-00c04fd430c8') : w.task.id;
          return { ns: w.ns, cp: 'node' in w.task && !/^[0-9a-f-]{36}$/.test(w.cp) ? '6ba7b810-9dad-11d1-80b4-00c04fd430c8' : w.cp, task: taskId, path, w: w.w };
        });
        // the checkpoint's index (writer's and reader's): the task context only when it holds the writes' checkpoint
        const taskOf = () => (known ? ctx : undefined);
        const writer = new Dict();
        const reader = twin(writer);
        const raw = decode(encode(encodeBatch(data, cp ? { data: cp, ctx: { dict: writer, parent: undefined, stream: STREAM, rev: selfRev } } : undefined, writer, () => newest, taskOf))) as Record<string, unknown>;
        const parts = splitBatch(raw, STREAM);
        for (const n of parts.names) reader.add(n);
        expect(parts.writes.map((w) => clean(decodeWrites(w, reader, () => newest, STREAM, taskOf)))).toEqual(data.map((d) => clean(d)));
        (parts.writes as { k: unknown }[]).forEach((w, i) => {
          const pull = 'node' in ws[i]!.task;
          if (known && pull) expect(typeof w.k, 'a derivable task id is stored as its trigger').toBe('number');
          if (!pull || !known) expect(typeof w.k).toBe('string');
        });
        if (cp) expect(norm(decodeCheckpoint(parts.checkpoint, { dict: reader, parent: undefined, stream: STREAM, rev: selfRev }))).toEqual(norm(cp));
        else expect(parts.checkpoint).toBeUndefined();
        expect(reader.names).toEqual(parts.names);
      }),
      { numRuns: 300 },
    );
  });
});
