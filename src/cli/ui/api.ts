/**
 * The inspector's read-only JSON API over one log (and the Store views on it): every handler reads,
 * none writes. Paths:
 * - `GET /api/info`: the backend kind and the URL (password hidden)
 * - `GET /api/streams`: streams with counts and times
 * - `GET /api/events?stream=s&type=t&from=r&to=r&limit=n`: a stream's events
 * - `GET /api/state?stream=s&revision=n`: the state at revision n ($state/$patch events)
 * - `GET /api/diff?stream=s&a=n&b=m`: the states at a and b and the immer patches between them
 * - `GET /api/keys?namespace=ns`: Store keys with versions; `GET /api/audit?key=k`: audit timeline;
 *   `GET /api/projections`: the Store views' checkpoints and lag
 */
import { toTree } from '../../core/codec.js';
import { redactUrl } from '../../core/connection-url.js';
import { PATCH_EVENT, STATE_EVENT } from '../../agents/stream/builtin-events.js';
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';
import type { BackendTarget } from '../../open/backend-url.js';
import { eventJson } from '../output.js';
import { scanStreams } from '../scan.js';
import { stateAt } from '../state-at.js';

/** A handler's answer: status and JSON body. */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

function int(v: string | null, fallback: number | undefined, name: string): number | undefined {
  if (v === null || v === '') return fallback;
  if (!/^\d{1,12}$/.test(v)) throw new ApiError(400, `${name} must be a non-negative integer`);
  return Number(v);
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function need(log: EventLog, stream: string | null): Promise<{ stream: string; head: number }> {
  if (!stream) throw new ApiError(400, 'stream is required');
  const head = await log.revision(stream);
  if (head === 0) throw new ApiError(404, `stream ${JSON.stringify(stream)} not found`);
  return { stream, head };
}

/** Answer one API request. */
export async function answer(log: EventLog, target: BackendTarget, path: string, q: URLSearchParams, views?: () => Promise<ViewsApi>): Promise<ApiAnswer> {
  try {
    switch (path) {
      case '/api/info':
        return { status: 200, body: { kind: target.kind, url: JSON.parse(redactUrl(target.url)) as string } };
      case '/api/streams': {
        const streams = await scanStreams(log, q.get('prefix') ?? undefined);
        return { status: 200, body: streams.map((s) => ({ stream: s.stream, events: s.events, revision: s.revision, lastTime: s.lastTime.toISOString(), lastType: s.lastType })) };
      }
      case '/api/events': {
        const { stream } = await need(log, q.get('stream'));
        const type = q.get('type') || undefined;
        const limit = int(q.get('limit'), 500, 'limit')!;
        const out: unknown[] = [];
        for await (const e of log.read(stream, { fromRevision: int(q.get('from'), undefined, 'from'), toRevision: int(q.get('to'), undefined, 'to') })) {
          if (type !== undefined && !e.type.includes(type)) continue;
          out.push(eventJson(e));
          if (out.length >= limit) break;
        }
        return { status: 200, body: out };
      }
      case '/api/state': {
        const { stream, head } = await need(log, q.get('stream'));
        const revision = Math.min(int(q.get('revision'), head, 'revision')!, head);
        const s = await stateAt(log, stream, { revision });
        return { status: 200, body: { stream, head, revision: s.revision, time: s.time?.toISOString() ?? null, hasState: s.hasState, state: s.hasState ? toTree(s.state) : null, notFolded: s.notFolded } };
      }
      case '/api/diff': {
        const { stream, head } = await need(log, q.get('stream'));
        let a = Math.min(int(q.get('a'), 0, 'a')!, head);
        let b = Math.min(int(q.get('b'), head, 'b')!, head);
        if (a > b) [a, b] = [b, a];
        const [sa, sb] = await Promise.all([stateAt(log, stream, { revision: a }), stateAt(log, stream, { revision: b })]);
        // the immer patches recorded between a and b, in order (a $state event replaces the whole state)
        const steps: { revision: number; type: string; patches?: unknown }[] = [];
        if (b > a) {
          for await (const e of log.read(stream, { fromRevision: a + 1, toRevision: b })) steps.push(step(e));
        }
        return { status: 200, body: { stream, a, b, before: sa.hasState ? toTree(sa.state) : null, after: sb.hasState ? toTree(sb.state) : null, steps } };
      }
      case '/api/keys':
      case '/api/audit':
      case '/api/projections': {
        if (!views) throw new ApiError(404, 'no Store views on this backend');
        const v = await views();
        if (path === '/api/projections') return { status: 200, body: await v.projections() };
        return { status: 200, body: path === '/api/keys' ? await v.keys(q.get('namespace') ?? 'default') : await v.audit(q.get('key') ?? undefined, q.get('namespace') ?? 'default') };
      }
      default:
        return { status: 404, body: { error: `no such API path ${path}` } };
    }
  } catch (e) {
    if (e instanceof ApiError) return { status: e.status, body: { error: e.message } };
    return { status: 500, body: { error: (e as Error)?.message ?? String(e) } };
  }
}

function step(e: RecordedEvent): { revision: number; type: string; patches?: unknown } {
  if (e.type === PATCH_EVENT) return { revision: e.revision, type: e.type, patches: toTree((e.data as { patches?: unknown }).patches ?? []) };
  if (e.type === STATE_EVENT) return { revision: e.revision, type: e.type, patches: [{ op: 'replace', path: [], value: toTree(e.data) }] };
  return { revision: e.revision, type: e.type };
}

/** The Store parts of the API (keys with versions, audit timeline). */
export interface ViewsApi {
  keys(namespace: string): Promise<unknown>;
  audit(key: string | undefined, namespace: string): Promise<unknown>;
  /** each Store view's checkpoint and how far the log is ahead of it */
  projections(): Promise<unknown>;
  close(): Promise<void>;
}
