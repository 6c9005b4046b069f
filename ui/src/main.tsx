/** The dgent inspector: streams, events, state at revision N (slider), diff between revisions, Store keys and audit. */
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { get, type AuditRow, type DiffAnswer, type EventRow, type KeyRow, type Patch, type ProjectionRow, type StateAnswer, type StreamRow } from './api.js';
import { JsonView, pathKey, type Marks } from './json-view.js';
import './style.css';

function useApi<T>(path: string | undefined, params: Record<string, string | number | undefined>, deps: unknown[]): { data?: T; error?: string } {
  const [res, setRes] = useState<{ data?: T; error?: string }>({});
  useEffect(() => {
    if (!path) return;
    let live = true;
    get<T>(path, params).then(
      (data) => live && setRes({ data }),
      (e: Error) => live && setRes({ error: e.message }),
    );
    return () => void (live = false);
  }, [path, ...deps]);
  return res;
}

function Streams({ selected, onSelect }: { selected?: string; onSelect: (s: string) => void }) {
  const [filter, setFilter] = useState('');
  const { data, error } = useApi<StreamRow[]>('streams', {}, []);
  const rows = (data ?? []).filter((s) => s.stream.includes(filter));
  return (
    <aside class="streams">
      <input placeholder="filter streams" value={filter} onInput={(e) => setFilter((e.target as HTMLInputElement).value)} />
      {error && <p class="error">{error}</p>}
      <ul data-testid="streams">
        {rows.map((s) => (
          <li key={s.stream} class={s.stream === selected ? 'sel' : ''} onClick={() => onSelect(s.stream)} data-stream={s.stream}>
            <span class="name">{s.stream}</span>
            <span class="count">{s.events}</span>
          </li>
        ))}
      </ul>
    </aside>
  );
}

function Events({ stream }: { stream: string }) {
  const [type, setType] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [picked, setPicked] = useState<EventRow | undefined>();
  const { data, error } = useApi<EventRow[]>('events', { stream, type, from, to }, [stream, type, from, to]);
  useEffect(() => setPicked(undefined), [stream]);
  return (
    <section>
      <h3>Events</h3>
      <div class="filters">
        <input placeholder="type contains" value={type} onInput={(e) => setType((e.target as HTMLInputElement).value)} data-testid="filter-type" />
        <input placeholder="from rev" size={8} value={from} onInput={(e) => setFrom((e.target as HTMLInputElement).value)} />
        <input placeholder="to rev" size={8} value={to} onInput={(e) => setTo((e.target as HTMLInputElement).value)} />
      </div>
      {error && <p class="error">{error}</p>}
      <div class="split">
        <table data-testid="events">
          <thead>
            <tr><th>rev</th><th>pos</th><th>time</th><th>type</th></tr>
          </thead>
          <tbody>
            {(data ?? []).map((e) => (
              <tr key={e.id} class={picked?.id === e.id ? 'sel' : ''} onClick={() => setPicked(e)}>
                <td>{e.revision}</td><td>{e.position}</td><td>{e.time}</td><td>{e.type}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <pre class="json" data-testid="event-json">{picked ? <JsonView value={picked} /> : <span class="hint">pick an event</span>}</pre>
      </div>
    </section>
  );
}

function marksOf(patches: Patch[], side: 'before' | 'after'): Marks {
  const m: Marks = new Map();
  for (const p of patches) {
    if (side === 'before' && p.op !== 'add') m.set(pathKey(p.path), p.op);
    if (side === 'after' && p.op !== 'remove') m.set(pathKey(p.path), p.op);
  }
  return m;
}

function TimeTravel({ stream, head }: { stream: string; head: number }) {
  const [rev, setRev] = useState(head);
  const [a, setA] = useState(Math.max(0, head - 1));
  const [b, setB] = useState(head);
  useEffect(() => {
    setRev(head);
    setA(Math.max(0, head - 1));
    setB(head);
  }, [stream, head]);
  const state = useApi<StateAnswer>('state', { stream, revision: rev }, [stream, rev]);
  const diff = useApi<DiffAnswer>('diff', { stream, a, b }, [stream, a, b]);
  const patches = useMemo(() => (diff.data?.steps ?? []).flatMap((s) => s.patches ?? []), [diff.data]);
  const onSlide = (v: number) => {
    setRev(v);
    setA(Math.max(0, v - 1));
    setB(v);
  };
  return (
    <section>
      <h3>State at revision <span data-testid="revision">{rev}</span> of {head}</h3>
      <input type="range" min={0} max={head} value={rev} data-testid="slider" onInput={(e) => onSlide(Number((e.target as HTMLInputElement).value))} />
      {state.data && state.data.notFolded > 0 && <p class="hint">{state.data.notFolded} domain event(s) not folded (only $state/$patch events can be)</p>}
      <pre class="json" data-testid="state">{state.error ? <span class="error">{state.error}</span> : state.data?.hasState ? <JsonView value={state.data.state} /> : <span class="hint">(no state yet)</span>}</pre>
      <h3>
        Diff from revision <input type="number" min={0} max={head} value={a} size={5} data-testid="diff-a" onInput={(e) => setA(Number((e.target as HTMLInputElement).value))} /> to{' '}
        <input type="number" min={0} max={head} value={b} size={5} data-testid="diff-b" onInput={(e) => setB(Number((e.target as HTMLInputElement).value))} />
      </h3>
      <ol class="patches" data-testid="patches">
        {(diff.data?.steps ?? []).flatMap((s) =>
          (s.patches ?? [{ op: 'replace', path: ['(domain event: not folded)'] } as Patch]).map((p, i) => (
            <li key={`${s.revision}-${i}`} class={`patch patch-${p.op}`}>
              <span class="rev">r{s.revision}</span> <span class="op">{p.op}</span> <span class="path">/{p.path.join('/')}</span>
              {'value' in p && p.value !== undefined ? <span class="val"> = {JSON.stringify(p.value)}</span> : null}
            </li>
          )),
        )}
      </ol>
      <div class="split">
        <pre class="json" data-testid="diff-before"><b>r{diff.data?.a}</b>{'\n'}<JsonView value={diff.data?.before ?? null} marks={marksOf(patches, 'before')} /></pre>
        <pre class="json" data-testid="diff-after"><b>r{diff.data?.b}</b>{'\n'}<JsonView value={diff.data?.after ?? null} marks={marksOf(patches, 'after')} /></pre>
      </div>
    </section>
  );
}

function StoreTab() {
  const [ns, setNs] = useState('default');
  const [key, setKey] = useState<string | undefined>();
  const keys = useApi<KeyRow[]>('keys', { namespace: ns }, [ns]);
  const audit = useApi<AuditRow[]>('audit', { namespace: ns, key }, [ns, key]);
  const projections = useApi<ProjectionRow[]>('projections', {}, []);
  return (
    <main class="store">
      <h3>Projections</h3>
      <table data-testid="projections">
        <thead><tr><th>view</th><th>generation</th><th>position</th><th>lag (events)</th><th>lag (ms)</th></tr></thead>
        <tbody>
          {(projections.data ?? []).map((p) => (
            <tr key={p.name}>
              <td>{p.name}</td><td>{p.built ? p.generation : 'not built'}</td><td>{p.position}</td><td>{p.lagEvents ?? '-'}</td><td>{p.lagMs ?? '-'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Keys</h3>
      <div class="filters">namespace <input value={ns} onChange={(e) => setNs((e.target as HTMLInputElement).value)} /></div>
      {keys.error && <p class="error">{keys.error}</p>}
      <table data-testid="keys">
        <thead><tr><th>key</th><th>version</th><th>updated</th><th>value</th></tr></thead>
        <tbody>
          {(keys.data ?? []).map((k) => (
            <tr key={k.key} class={k.key === key ? 'sel' : ''} onClick={() => setKey(k.key === key ? undefined : k.key)}>
              <td>{k.key}</td><td>{k.version}</td><td>{k.updatedAt}</td><td class="val">{JSON.stringify(k.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Audit {key ? `of ${key}` : `of ${ns}`}</h3>
      <ol class="timeline" data-testid="audit">
        {(audit.data ?? []).map((a) => (
          <li key={a.position}><span class="time">{a.time}</span> <b>{a.actor ?? '-'}</b> {a.operation} {a.key} → v{a.version}</li>
        ))}
      </ol>
    </main>
  );
}

function App() {
  const [tab, setTab] = useState<'streams' | 'store'>('streams');
  const [stream, setStream] = useState<string | undefined>();
  const info = useApi<{ kind: string; url: string }>('info', {}, []);
  const streams = useApi<StreamRow[]>('streams', {}, [stream]);
  const head = streams.data?.find((s) => s.stream === stream)?.revision ?? 0;
  return (
    <div class="app">
      <header>
        <b>dgent inspector</b> <span class="url">{info.data?.url}</span> <span class="ro">read-only</span>
        <nav>
          <button class={tab === 'streams' ? 'on' : ''} onClick={() => setTab('streams')}>Streams</button>
          <button class={tab === 'store' ? 'on' : ''} onClick={() => setTab('store')}>Store</button>
        </nav>
      </header>
      {tab === 'streams' ? (
        <div class="body">
          <Streams selected={stream} onSelect={setStream} />
          <main>
            {stream ? (
              <>
                <h2 data-testid="stream-title">{stream}</h2>
                {head > 0 && <TimeTravel stream={stream} head={head} />}
                <Events stream={stream} />
              </>
            ) : (
              <p class="hint">pick a stream</p>
            )}
          </main>
        </div>
      ) : (
        <StoreTab />
      )}
    </div>
  );
}

render(<App />, document.getElementById('app')!);
