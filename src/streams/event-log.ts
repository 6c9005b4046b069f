/**
 * The EventLog contract: the append-only source of truth of dgent.
 *
 * - Revisions are 1-based and gapless per stream; `expectedRevision: 0` means `'no_stream'`.
 * - `position` is a global order over all streams; readers never skip an event.
 * - `subscribe` catches up from `fromPosition`, then goes live: in order, exactly once, no gaps.
 *
 * @example
 * ```ts
 * const log: EventLog = new MemoryEventLog();
 * await log.append('chat-1', [{ type: 'UserSaid', data: { text: 'hi' } }], { expectedRevision: 'no_stream' });
 * for await (const e of log.read('chat-1')) console.log(e.revision, e.type, e.data);
 * ```
 */

/** What a writer expects the stream's revision to be. */
export type ExpectedRevision = number | 'any' | 'no_stream' | 'stream_exists';

/** An event to append. `id` is generated (UUID) when absent. */
export interface NewEvent<T = unknown> {
  type: string;
  data: T;
  metadata?: Record<string, unknown> | undefined;
  id?: string | undefined;
}

/** An event as stored. `revision` is 1-based per stream; `position` is global. */
export interface RecordedEvent<T = unknown> {
  id: string;
  stream: string;
  revision: number;
  position: number;
  type: string;
  data: T;
  metadata: Record<string, unknown>;
  time: Date;
}

/** Revision and position of the last event appended. */
export interface AppendResult {
  revision: number;
  position: number;
}

export interface AppendOptions {
  expectedRevision?: ExpectedRevision | undefined;
}

export interface ReadOptions {
  /** first revision to return (inclusive); for backward reads the revision to start from going down */
  fromRevision?: number | undefined;
  /** last revision to return (inclusive) */
  toRevision?: number | undefined;
  direction?: 'forward' | 'backward' | undefined;
  limit?: number | undefined;
}

export interface ReadAllOptions {
  /** return events with position > fromPosition (exclusive: pass the last position you processed; default 0) */
  fromPosition?: number | undefined;
  limit?: number | undefined;
  /** only events of these types */
  types?: readonly string[] | undefined;
}

export interface SubscribeOptions {
  /** deliver events with position > fromPosition (exclusive; default 0 = from the beginning) */
  fromPosition?: number | undefined;
  /** only this stream */
  stream?: string | undefined;
}

/** A running subscription. */
export interface Subscription {
  /** stop delivering; resolves when the handler is no longer running */
  close(): Promise<void>;
  /** settles with the error that stopped the subscription (a handler throw, a backend failure) */
  readonly done: Promise<void>;
}

/** Optional backend features; ask instead of guessing by class name. */
export interface EventLogCapabilities {
  /** `appendMany` appends to several streams atomically */
  readonly supportsMultiStreamAppend: boolean;
  /** `onAppend` hooks run inside the append's transaction */
  readonly supportsInlineProjections: boolean;
  /** an acknowledged append survives a crash of this process */
  readonly durable: boolean;
}

/**
 * An event of the union `E` as `append` takes it: its `type` and `data`, with optional `metadata`
 * and `id`. For the default `E` (any event), a {@link NewEvent}.
 */
export type NewEventOf<E extends NewEvent> = E & Pick<NewEvent, 'metadata' | 'id'>;

/**
 * An event of the union `E` as stored: a {@link RecordedEvent} whose `type` and `data` are those of
 * one member of `E`, so that checking `type` narrows `data`. For the default `E`, a RecordedEvent.
 */
// Distributive only (no special case for the default), so that EventLog<E> stays covariant in E:
// an EventLog<ChatEvent> can be passed where an EventLog is expected.
export type RecordedEventOf<E extends NewEvent> = E extends unknown ? Omit<RecordedEvent, 'type' | 'data'> & { type: E['type']; data: E['data'] } : never;

/**
 * The append-only event log. `E` is the union of the events it holds (`{ type: 'A'; data: ... } |
 * ...`); the default, any {@link NewEvent}, leaves events untyped. The types are the caller's
 * promise, not checked at run time: validate data from untrusted writers.
 *
 * @example
 * ```ts
 * type ChatEvent = { type: 'UserSaid'; data: { text: string } } | { type: 'Cleared'; data: null };
 * const log: EventLog<ChatEvent> = new MemoryEventLog<ChatEvent>();
 * for await (const e of log.read('chat-1')) if (e.type === 'UserSaid') console.log(e.data.text);
 * ```
 */
export interface EventLog<E extends NewEvent = NewEvent> {
  readonly capabilities: EventLogCapabilities;
  append(stream: string, events: readonly NewEventOf<E>[], options?: AppendOptions): Promise<AppendResult>;
  read(stream: string, options?: ReadOptions): AsyncIterable<RecordedEventOf<E>>;
  readAll(options?: ReadAllOptions): AsyncIterable<RecordedEventOf<E>>;
  /** bad options or a closed log throw synchronously; failures after the start reject `done` */
  subscribe(options: SubscribeOptions, handler: (e: RecordedEventOf<E>) => void | Promise<void>): Subscription;
  /** current revision of a stream; 0 when the stream does not exist */
  revision(stream: string): Promise<number>;
  close(): Promise<void>;
}

/** One stream's part of an atomic multi-stream append. */
export interface StreamAppend {
  stream: string;
  events: readonly NewEvent[];
  expectedRevision?: ExpectedRevision | undefined;
}

/** Capability: atomic append to several streams (all or nothing). */
export interface MultiStreamAppender {
  appendMany(appends: readonly StreamAppend[]): Promise<AppendResult[]>;
}

/** True when the log can append to several streams atomically. */
export function isMultiStreamAppender(log: EventLog): log is EventLog & MultiStreamAppender {
  return log.capabilities.supportsMultiStreamAppend && typeof (log as Partial<MultiStreamAppender>).appendMany === 'function';
}

/**
 * What an inline (in-transaction) hook receives next to the events. Backends pass their own
 * transaction type (`Tx`), which extends this: SQLite/PostgreSQL add the open transaction so a
 * projection can write its view and checkpoint in it.
 */
export interface AppendTransaction {
  /** run `fn` once the append has committed (e.g. publish a view change); errors there are reported, not swallowed */
  onCommit(fn: () => void): void;
  /** run `fn` if the append is aborted after this hook ran (undo in-memory view changes); runs in reverse order */
  onRollback(fn: () => void): void;
}

/**
 * An inline hook: runs inside the append, after the events got their revisions and positions and
 * before they become visible. A throw (or rejection) aborts the whole append: nothing is stored,
 * the append rejects with that error, and earlier hooks' `onRollback` callbacks run.
 */
export type AppendHook<Tx extends AppendTransaction = AppendTransaction> = (events: readonly RecordedEvent[], tx: Tx) => void | Promise<void>;

/** Capability: hooks that run inside the append's transaction (inline projections). */
export interface InlineProjectionHost<Tx extends AppendTransaction = AppendTransaction> {
  /** register a hook for every later append (single or multi-stream); returns a function that removes it */
  onAppend(hook: AppendHook<Tx>): () => void;
}

/** True when the log runs `onAppend` hooks inside the append's transaction. */
export function isInlineProjectionHost(log: EventLog): log is EventLog & InlineProjectionHost {
  return log.capabilities.supportsInlineProjections && typeof (log as Partial<InlineProjectionHost>).onAppend === 'function';
}
