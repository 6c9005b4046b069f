/**
 * PROTOCOL DOUBLE, NOT A DATABASE: an in-process gRPC server that answers the few EventStoreDB
 * RPCs `EventStoreDBEventLog` uses, built on the service definitions and message classes that
 * `@eventstore/db-client` ships (`generated/streams_grpc_pb.js`, `serverfeatures_grpc_pb.js`) and
 * served with `@grpc/grpc-js`.
 *
 * Why it exists: no EventStoreDB/KurrentDB server can run on the CI machines (no Docker, not in
 * Debian or npm). The double lets CI drive the adapter through the official client over a real
 * HTTP/2 connection, so the adapter's wire usage (request shapes, expected-revision encodings,
 * positions, filters, subscriptions, error details) is exercised for real. It is NOT evidence of
 * server semantics: its behaviour is our reading of the protocol (see store.ts for what it leaves
 * out). The same contract runs against a real server when DGENT_EVENTSTORE_URL is set.
 *
 * RPCs: ServerFeatures.GetSupportedMethods (advertises BatchAppend unless `batchAppend: false`, so
 * the client takes the path it takes against a modern server), Streams.BatchAppend,
 * Streams.Append, Streams.Read (stream forwards/backwards honouring a stream's `$tb` metadata, $all
 * forwards from start or a position,
 * $all subscriptions with stream-name or event-type filters, prefixes or regex). Anything else
 * answers UNIMPLEMENTED. No TLS, no authentication, no checkpoints, no backpressure.
 */
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { DoubleStore, type Expected, type Proposed, type StoredEvent } from './store.js';

const require = createRequire(import.meta.url);
/* eslint-disable @typescript-eslint/no-explicit-any -- the generated CommonJS stubs are used untyped here */
const streamsGrpc = require('@eventstore/db-client/generated/streams_grpc_pb.js') as any;
const streamsPb = require('@eventstore/db-client/generated/streams_pb.js') as any;
const sharedPb = require('@eventstore/db-client/generated/shared_pb.js') as any;
const statusPb = require('@eventstore/db-client/generated/status_pb.js') as any;
const featuresGrpc = require('@eventstore/db-client/generated/serverfeatures_grpc_pb.js') as any;
const featuresPb = require('@eventstore/db-client/generated/serverfeatures_pb.js') as any;
const anyPb = require('google-protobuf/google/protobuf/any_pb.js') as any;
const emptyPb = require('google-protobuf/google/protobuf/empty_pb.js') as any;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NO_POSITION = 18446744073709551615n;

/** Options of {@link startEsdbDouble}. */
export interface EsdbDoubleOptions {
  /** advertise Streams.BatchAppend in ServerFeatures (default true, as servers >= 21.10 do) */
  batchAppend?: boolean;
}

/** A running double. */
export interface EsdbDouble {
  /** `esdb://127.0.0.1:<port>?tls=false` */
  readonly connectionString: string;
  readonly store: DoubleStore;
  /** calls received per RPC name, to check which path the client took */
  readonly calls: Map<string, number>;
  /** Read calls (not subscriptions) whose response the server has written in full, status included */
  readonly readsAnswered: () => number;
  /** stop at once, cutting every open call (what a crashed server looks like to the client) */
  stop(): Promise<void>;
}

/** Start the double on an ephemeral loopback port. */
export async function startEsdbDouble(options: EsdbDoubleOptions = {}): Promise<EsdbDouble> {
  const store = new DoubleStore();
  const calls = new Map<string, number>();
  let readsAnswered = 0;
  const count = (name: string): void => void calls.set(name, (calls.get(name) ?? 0) + 1);
  const server = new grpc.Server();
  server.addService(featuresGrpc.ServerFeaturesService, {
    getSupportedMethods(_call: unknown, cb: grpc.sendUnaryData<unknown>) {
      count('GetSupportedMethods');
      const methods = new featuresPb.SupportedMethods();
      methods.setEventStoreServerVersion('0.0.0-protocol-double');
      const names = ['Read', 'Append', ...(options.batchAppend === false ? [] : ['BatchAppend'])];
      for (const n of names) {
        const m = new featuresPb.SupportedMethod();
        m.setServiceName('event_store.client.streams.Streams');
        m.setMethodName(n);
        methods.addMethods(m);
      }
      cb(null, methods);
    },
  });
  server.addService(streamsGrpc.StreamsService, {
    read: (call: grpc.ServerWritableStream<any, any>) => {
      count('Read');
      if (!call.request.getOptions().hasSubscription()) call.once('finish', () => void readsAnswered++);
      handleRead(store, call);
    },
    append: (call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<unknown>) => {
      count('Append');
      handleAppend(store, call, cb);
    },
    batchAppend: (call: grpc.ServerDuplexStream<any, any>) => {
      count('BatchAppend');
      handleBatchAppend(store, call);
    },
    delete: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the protocol double' }),
    tombstone: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the protocol double' }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    connectionString: `esdb://127.0.0.1:${port}?tls=false`,
    store,
    calls,
    readsAnswered: () => readsAnswered,
    async stop() {
      server.forceShutdown();
    },
  };
}

function proposed(m: any): Proposed {
  const id: string = m.getId()?.getString() ?? '';
  if (!UUID_RE.test(id)) throw Object.assign(new Error(`event id is not a UUID: ${JSON.stringify(id)}`), { code: grpc.status.INVALID_ARGUMENT });
  const meta = m.getMetadataMap();
  const type = meta.get('type');
  const contentType = meta.get('content-type');
  if (typeof type !== 'string' || typeof contentType !== 'string') throw Object.assign(new Error('type and content-type are required'), { code: grpc.status.INVALID_ARGUMENT });
  return { id: id.toLowerCase(), type, contentType, data: m.getData_asU8(), customMetadata: m.getCustomMetadata_asU8() };
}

function streamName(identifier: any): string {
  return Buffer.from(identifier.getStreamName_asU8()).toString('utf8');
}

function identifierOf(name: string): any {
  const id = new sharedPb.StreamIdentifier();
  id.setStreamName(Buffer.from(name, 'utf8'));
  return id;
}

function readEvent(e: StoredEvent): any {
  const rec = new streamsPb.ReadResp.ReadEvent.RecordedEvent();
  const uuid = new sharedPb.UUID();
  uuid.setString(e.id);
  rec.setId(uuid);
  rec.setStreamIdentifier(identifierOf(e.stream));
  rec.setStreamRevision(String(e.revision));
  rec.setCommitPosition(e.position.toString());
  rec.setPreparePosition(e.position.toString());
  const meta = rec.getMetadataMap();
  meta.set('type', e.type);
  meta.set('content-type', e.contentType);
  meta.set('created', e.createdTicks.toString());
  rec.setCustomMetadata(e.customMetadata);
  rec.setData(e.data);
  const ev = new streamsPb.ReadResp.ReadEvent();
  ev.setEvent(rec);
  ev.setCommitPosition(e.position.toString());
  const resp = new streamsPb.ReadResp();
  resp.setEvent(ev);
  return resp;
}

/** The server's filter semantics: prefixes match the start, a regex matches anywhere (anchors are the caller's). */
function filterOf(options: any): ((e: StoredEvent) => boolean) | undefined {
  if (!options.hasFilter()) return undefined;
  const f = options.getFilter();
  const onStream = f.hasStreamIdentifier();
  const expr = onStream ? f.getStreamIdentifier() : f.getEventType();
  const prefixes: string[] = expr.getPrefixList();
  const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
  return (e) => {
    const subject = onStream ? e.stream : e.type;
    if (prefixes.length > 0 && !prefixes.some((p) => subject.startsWith(p))) return false;
    return regex === undefined || regex.test(subject);
  };
}

function handleRead(store: DoubleStore, call: grpc.ServerWritableStream<any, any>): void {
  const options = call.request.getOptions();
  const max = options.hasCount() ? BigInt(options.getCount()) : NO_POSITION;
  const backwards = options.getReadDirection() === 1;
  const fail = (code: grpc.status, details: string): void => void call.destroy(Object.assign(new Error(details), { code, details }));
  if (options.hasStream()) {
    if (options.hasSubscription()) return fail(grpc.status.UNIMPLEMENTED, 'stream subscriptions are not in the protocol double');
    const so = options.getStream();
    const name = streamName(so.getStreamIdentifier());
    const events = store.stream(name);
    if (events === undefined) {
      const resp = new streamsPb.ReadResp();
      const nf = new streamsPb.ReadResp.StreamNotFound();
      nf.setStreamIdentifier(identifierOf(name));
      resp.setStreamNotFound(nf);
      call.write(resp);
      { call.end(); return; }
    }
    const last = events.length - 1;
    const tb = store.truncateBefore(name); // events below the stream's $tb are not read any more
    let from: number;
    if (so.hasStart()) from = backwards ? -1 : 0;
    else if (so.hasEnd()) from = backwards ? last : events.length;
    else from = Number(BigInt(so.getRevision()) > BigInt(last) && backwards ? BigInt(last) : BigInt(so.getRevision()));
    if (!backwards && from < tb) from = tb;
    let sent = 0n;
    for (let r = from; r >= tb && r <= last && sent < max; r += backwards ? -1 : 1, sent++) call.write(readEvent(events[r]!));
    { call.end(); return; }
  }
  const ao = options.getAll();
  const filter = filterOf(options);
  const matches = (e: StoredEvent) => filter === undefined || filter(e);
  if (!options.hasSubscription()) {
    if (backwards) return fail(grpc.status.UNIMPLEMENTED, 'backward $all reads are not in the protocol double');
    // forward reads of $all start AT the given position (inclusive), as the server does
    let i = ao.hasStart() ? 0 : ao.hasEnd() ? store.all.length : store.indexAtOrAfter(BigInt(ao.getPosition().getCommitPosition()));
    let sent = 0n;
    for (; i < store.all.length && sent < max; i++) {
      const e = store.all[i]!;
      if (!matches(e)) continue;
      call.write(readEvent(e));
      sent++;
    }
    { call.end(); return; }
  }
  // subscriptions start AFTER the given position (exclusive)
  const confirmation = new streamsPb.ReadResp();
  const conf = new streamsPb.ReadResp.SubscriptionConfirmation();
  conf.setSubscriptionId(`double-${Math.random().toString(36).slice(2)}`);
  confirmation.setConfirmation(conf);
  call.write(confirmation);
  let i = ao.hasStart() ? 0 : ao.hasEnd() ? store.all.length : store.indexAtOrAfter(BigInt(ao.getPosition().getCommitPosition()) + 1n);
  for (; i < store.all.length; i++) if (matches(store.all[i]!)) call.write(readEvent(store.all[i]!));
  const caughtUp = new streamsPb.ReadResp();
  caughtUp.setCaughtUp(new streamsPb.ReadResp.CaughtUp());
  call.write(caughtUp);
  // registered in the same tick as the catch-up above: nothing can be appended in between
  const off = store.listen((e) => {
    if (matches(e)) call.write(readEvent(e));
  });
  call.on('cancelled', off);
  call.on('close', off);
  call.on('error', off);
}

function expectedOf(kind: string, o: any): Expected {
  switch (kind) {
    case 'any': return { kind: 'any' };
    case 'no_stream': return { kind: 'no_stream' };
    case 'stream_exists': return { kind: 'stream_exists' };
    default: return { kind: 'revision', revision: BigInt(o) };
  }
}

function handleAppend(store: DoubleStore, call: grpc.ServerReadableStream<any, any>, cb: grpc.sendUnaryData<unknown>): void {
  let options: any;
  const events: Proposed[] = [];
  let failed: Error | undefined;
  call.on('data', (req: any) => {
    try {
      if (req.hasOptions()) options = req.getOptions();
      else events.push(proposed(req.getProposedMessage()));
    } catch (e) {
      failed ??= e as Error;
    }
  });
  call.on('end', () => {
    if (failed || options === undefined) return cb(Object.assign(failed ?? new Error('no options'), { code: (failed as { code?: number })?.code ?? grpc.status.INVALID_ARGUMENT }));
    const kind = options.hasAny() ? 'any' : options.hasNoStream() ? 'no_stream' : options.hasStreamExists() ? 'stream_exists' : 'revision';
    const outcome = store.append(streamName(options.getStreamIdentifier()), expectedOf(kind, options.getRevision()), events);
    const resp = new streamsPb.AppendResp();
    if (outcome.ok) {
      const s = new streamsPb.AppendResp.Success();
      s.setCurrentRevision(String(outcome.revision));
      const p = new streamsPb.AppendResp.Position();
      p.setCommitPosition(outcome.position.toString());
      p.setPreparePosition(outcome.position.toString());
      s.setPosition(p);
      resp.setSuccess(s);
    } else {
      const w = new streamsPb.AppendResp.WrongExpectedVersion();
      if (outcome.current === undefined) w.setCurrentNoStream(new sharedPb.Empty());
      else w.setCurrentRevision(String(outcome.current));
      const x = outcome.expected;
      if (x.kind === 'any') w.setExpectedAny(new sharedPb.Empty());
      else if (x.kind === 'no_stream') w.setExpectedNoStream(new sharedPb.Empty());
      else if (x.kind === 'stream_exists') w.setExpectedStreamExists(new sharedPb.Empty());
      else w.setExpectedRevision(x.revision.toString());
      resp.setWrongExpectedVersion(w);
    }
    cb(null, resp);
  });
}

function handleBatchAppend(store: DoubleStore, call: grpc.ServerDuplexStream<any, any>): void {
  const pending = new Map<string, { options: any; events: Proposed[]; correlation: any }>();
  call.on('data', (req: any) => {
    const correlation = req.getCorrelationId();
    const key = correlation.getString() || correlation.getStructured()?.serializeBinary().toString();
    let batch = pending.get(key);
    if (!batch) {
      batch = { options: req.getOptions(), events: [], correlation };
      pending.set(key, batch);
    }
    try {
      for (const m of req.getProposedMessagesList()) batch.events.push(proposed(m));
    } catch (e) {
      return call.destroy(e as Error);
    }
    if (!req.getIsFinal()) return;
    pending.delete(key);
    const o = batch.options;
    const kind = o.hasAny() ? 'any' : o.hasNoStream() ? 'no_stream' : o.hasStreamExists() ? 'stream_exists' : 'revision';
    const expected = expectedOf(kind, o.getStreamPosition());
    const outcome = store.append(streamName(o.getStreamIdentifier()), expected, batch.events);
    const resp = new streamsPb.BatchAppendResp();
    resp.setCorrelationId(batch.correlation);
    resp.setStreamIdentifier(o.getStreamIdentifier());
    if (kind === 'any') resp.setAny(new emptyPb.Empty());
    else if (kind === 'no_stream') resp.setNoStream(new emptyPb.Empty());
    else if (kind === 'stream_exists') resp.setStreamExists(new emptyPb.Empty());
    else resp.setStreamPosition(o.getStreamPosition());
    if (outcome.ok) {
      const s = new streamsPb.BatchAppendResp.Success();
      s.setCurrentRevision(String(outcome.revision));
      const p = new sharedPb.AllStreamPosition();
      p.setCommitPosition(outcome.position.toString());
      p.setPreparePosition(outcome.position.toString());
      s.setPosition(p);
      resp.setSuccess(s);
    } else {
      const w = new sharedPb.WrongExpectedVersion();
      if (outcome.current === undefined) w.setCurrentNoStream(new emptyPb.Empty());
      else w.setCurrentStreamRevision(String(outcome.current));
      if (kind === 'any') w.setExpectedAny(new emptyPb.Empty());
      else if (kind === 'no_stream') w.setExpectedNoStream(new emptyPb.Empty());
      else if (kind === 'stream_exists') w.setExpectedStreamExists(new emptyPb.Empty());
      else w.setExpectedStreamPosition(o.getStreamPosition());
      const details = new anyPb.Any();
      details.pack(w.serializeBinary(), 'event_store.client.WrongExpectedVersion');
      const status = new statusPb.Status();
      status.setCode(9);
      status.setMessage('WrongExpectedVersion');
      status.setDetails(details);
      resp.setError(status);
    }
    call.write(resp);
  });
  call.on('end', () => call.end());
}
