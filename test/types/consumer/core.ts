/**
 * What a consumer of `dgent` writes, checked with strict + exactOptionalPropertyTypes against the
 * built declarations. `@ts-expect-error` lines must stay errors; everything else must compile.
 */
import {
  CachedAgent,
  EntropyConstrainedAgent,
  FileEventLog,
  MemoryEventLog,
  PersistentAgent,
  SQLAgent,
  SqliteEventLog,
  StreamAgent,
  VolatileAgent,
  isVersioned,
  fallback,
  lens,
  symbiont,
  type DataAgent,
  type EventLog,
  type Frozen,
  type Migrations,
  type RecordedEvent,
} from 'dgent';

interface Memory {
  turns: string[];
  tags: Set<string>;
  seen: Map<string, Date>;
  meta: { model: string; bytes?: Uint8Array };
}

const initial: Memory = { turns: [], tags: new Set(), seen: new Map(), meta: { model: 'm' } };

export async function loadedStatesAreReadOnly(agent: PersistentAgent<Memory>): Promise<void> {
  const s = await agent.load();
  // @ts-expect-error load() returns a deeply frozen state: push throws at run time
  s.turns.push('hi');
  // @ts-expect-error nested objects are read-only too
  s.meta.model = 'other';
  // @ts-expect-error Sets come back read-only
  s.tags.add('x');
  // @ts-expect-error Maps come back read-only
  s.seen.set('k', new Date());
  const first: string | undefined = s.turns[0];
  const when: Date | undefined = s.seen.get('k');
  void first;
  void when;

  // a loaded state can be saved back, or spread into a new one
  await agent.save(s);
  await agent.save({ ...s, turns: [...s.turns, 'hi'] });
  await agent.save(initial);

  const [newest] = await agent.history(1);
  // @ts-expect-error history() is read-only
  newest?.turns.push('x');
  const past = await agent.loadAt({ version: 1 });
  // @ts-expect-error loadAt() is read-only
  past.turns.pop();

  const next = await agent.update((draft) => {
    draft.turns.push('drafts are mutable');
    draft.tags.add('t');
  });
  // @ts-expect-error update() resolves to the frozen state
  next.turns.push('x');
  await agent.update(() => s);
  await agent.update((draft) => ({ ...draft, turns: [] }));

  agent.subscribe((state) => {
    // @ts-expect-error listeners receive frozen states
    state.turns.push('x');
  });

  const frozen: Frozen<Memory> = s;
  const asData: DataAgent<Memory> = agent;
  const fromInterface = await asData.load();
  // @ts-expect-error DataAgent.load() is read-only as well
  fromInterface.turns.push('x');
  void frozen;
}

export async function cachedAgentInfersItsState(backend: PersistentAgent<Memory>): Promise<void> {
  const cached = new CachedAgent({ cache: new VolatileAgent(), backend });
  const s = await cached.load();
  const turns: readonly string[] = s.turns;
  void turns;
  // the backend is Versioned, so the cached agent's version() is there
  const v: number = await cached.version();
  const at = await cached.loadAt({ version: v });
  void at.turns;
  cached.subscribe((state) => void state.turns);
  await cached.close();

  const explicit = new CachedAgent<Memory>({ cache: new VolatileAgent<Memory>(), backend, strategy: 'write-behind' });
  if (isVersioned(explicit)) await explicit.version();

  // options after the parts, explicit undefined among them: still inferred from the backend
  const behind = new CachedAgent({ backend, cache: new VolatileAgent({ maxHistory: 1 }), strategy: undefined, coalesce: true });
  const b: readonly string[] = (await behind.load()).turns;
  void b;
  // @ts-expect-error a cache of another state type is refused
  new CachedAgent({ cache: new VolatileAgent<string>(), backend });

  const plain: DataAgent<Memory> = backend;
  const overPlain = new CachedAgent({ cache: new VolatileAgent(), backend: plain });
  // @ts-expect-error a plain DataAgent backend may have no version()
  await overPlain.version();
}

/** The combinators infer the state from the agents they are given and hand out frozen states too. */
export async function combinatorsInferTheirStates(agent: PersistentAgent<Memory>): Promise<void> {
  const turns = lens.prop(agent, 'turns');
  const list = await turns.load();
  // @ts-expect-error a lens part is frozen like a whole state
  list.push('x');
  await turns.update((draft) => {
    draft.push('hi');
  });
  await turns.save([...list, 'x']);

  const both = fallback([agent, new VolatileAgent<Memory>()]);
  const s = await both.load();
  const model: string = s.meta.model;
  void model;
  await both.save(s);

  const counter = symbiont((by: number, state) => [state.turns.length + by, { ...state, turns: [...state.turns, String(by)] }] as const, agent);
  const n: number = await counter.invoke(1);
  void n;
  // @ts-expect-error the logic gets the state frozen
  symbiont((by: number, state) => [by, (state.turns.push('x'), state)] as const, agent);
}

/** exactOptionalPropertyTypes: options accept an explicit `undefined` for every optional field. */
export function optionsAcceptUndefined(env: Record<string, string | undefined>): void {
  const maybe = env['N'] === undefined ? undefined : Number(env['N']);
  new VolatileAgent<Memory>({ initial: undefined, maxHistory: maybe, maxRetries: maybe });
  new PersistentAgent<Memory>({ path: 'a.json', schema: undefined, migrations: undefined, retention: maybe, lock: undefined, initial: undefined });
  new SQLAgent<Memory>({ path: env['DB'], id: 'a', table: env['TABLE'], connectionString: undefined, db: undefined, retention: maybe });
  new CachedAgent<Memory>({
    cache: new VolatileAgent<Memory>(),
    backend: new VolatileAgent<Memory>(),
    strategy: undefined,
    flushIntervalMs: maybe,
    coalesce: undefined,
    verify: undefined,
    onFlushError: undefined,
    onCacheError: undefined,
  });
  new EntropyConstrainedAgent<Memory>({ backend: new VolatileAgent<Memory>(), budget: 1, maxSizeBytes: maybe, onExceed: undefined });
  new FileEventLog({ dir: env['DIR'] ?? 'x' });
  new SqliteEventLog({ path: env['DB'] ?? 'x' });
  new MemoryEventLog({});
}

/** Migrations are typed: each step takes the stored value and returns the next shape. */
export function migrationsAreTyped(): void {
  const migrations: Migrations = {
    1: (v0) => ({ turns: (v0 as { messages: string[] }).messages }),
    // a migration may declare the shape it expects
    2: (v1: { turns: string[] }) => ({ ...v1, tags: new Set<string>() }),
  };
  void migrations;
  // @ts-expect-error the stored state is unknown, not any: it must be checked or declared
  const unchecked: Migrations = { 1: (v0) => v0.messages };
  void unchecked;
  // @ts-expect-error a migration is a function
  const bad: Migrations = { 1: 'not a function' };
  void bad;
}

type ChatEvent = { type: 'said'; data: { text: string } } | { type: 'cleared'; data: null };

export async function eventLogsAreGeneric(log: EventLog<ChatEvent>, any: EventLog): Promise<void> {
  const typed: EventLog<ChatEvent> = new MemoryEventLog<ChatEvent>();
  const files: EventLog<ChatEvent> = new FileEventLog<ChatEvent>({ dir: 'x' });
  const sqlite: EventLog<ChatEvent> = new SqliteEventLog<ChatEvent>({ path: 'x.db' });
  const untyped: EventLog = typed;
  void files;
  void sqlite;
  void untyped;
  await typed.append('chat-1', [{ type: 'said', data: { text: 'hi' }, metadata: { by: 'me' }, id: undefined }]);
  await log.append('chat-1', [{ type: 'said', data: { text: 'hi' } }, { type: 'cleared', data: null }]);
  // @ts-expect-error the event's data does not match its type
  await log.append('chat-1', [{ type: 'said', data: { words: 'hi' } }]);
  // @ts-expect-error unknown event type
  await log.append('chat-1', [{ type: 'other', data: null }]);
  for await (const e of log.read('chat-1')) {
    if (e.type === 'said') {
      const text: string = e.data.text;
      void text;
    }
  }
  log.subscribe({ fromPosition: 0 }, (e) => {
    if (e.type === 'cleared') {
      const nothing: null = e.data;
      void nothing;
    }
  });
  // the default keeps untyped logs working as before
  await any.append('s', [{ type: 'anything', data: { x: 1 } }]);
  for await (const e of any.readAll()) {
    const r: RecordedEvent = e;
    void r.data;
  }

  const agent = new StreamAgent<ChatEvent, { texts: string[] }>({
    log: new MemoryEventLog(),
    stream: 'chat-1',
    initial: { texts: [] },
    fold: (state, e) => (e.type === 'said' ? { texts: [...state.texts, e.data.text] } : { texts: [] }),
  });
  await agent.append([{ type: 'said', data: { text: 'x' } }]);
  const s = await agent.load();
  // @ts-expect-error StreamAgent.load() is read-only
  s.texts.push('y');
}
