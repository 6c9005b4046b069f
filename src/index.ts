/**
 * dgent: event-sourced persistence for agent state.
 *
 * @example
 * ```ts
 * import { PersistentAgent } from 'dgent';
 * const agent = new PersistentAgent<{ turns: string[] }>({ path: './memory/agent.json', initial: { turns: [] } });
 * await agent.update((s) => { s.turns.push('hello'); });
 * console.log(await agent.load(), await agent.history());
 * ```
 */
export {
  DgentError,
  StateNotFoundError,
  ConcurrencyError,
  SerializationError,
  ValidationError,
  StateTooLargeError,
  CorruptionError,
  BackendUnavailableError,
  AccessDeniedError,
  InvalidKeyError,
  LockedError,
  ClosedError,
  isDgentError,
} from './core/errors.js';
export type { DgentErrorCode } from './core/errors.js';
export { encode, decode, prepare, encodedSize, toTree, fromTree, deepFreeze } from './core/codec.js';
export type { Prepared } from './core/codec.js';
export type { Migration, Migrations, StandardSchemaV1 } from './core/schema.js';

export { isVersioned, isUpdatable, isSubscribable, isClosable } from './agents/data-agent.js';
export type {
  DataAgent,
  SaveOptions,
  Versioned,
  Updatable,
  Subscribable,
  Closable,
  Recipe,
  LoadAtTarget,
  HistoryOptions,
  ChangeInfo,
  Unsubscribe,
  Frozen,
} from './agents/data-agent.js';
export { VersionedAgent } from './agents/versioned-agent.js';
export type { Snapshot, VersionedAgentOptions } from './agents/versioned-agent.js';
export { VolatileAgent } from './agents/volatile-agent.js';
export type { VolatileAgentOptions } from './agents/volatile-agent.js';
export { PersistentAgent, DEFAULT_RETENTION } from './agents/persistent-agent.js';
export type { PersistentAgentOptions, RepairReport } from './agents/persistent-agent.js';
export { SQLAgent } from './agents/sql-agent.js';
export type { SQLAgentOptions } from './agents/sql-agent.js';
export type { SqlDatabase, SqlDialectName } from './agents/sql/connect.js';
export { acquireFileLock, withFileLock } from './core/file-lock.js';
export type { FileLock, FileLockOptions } from './core/file-lock.js';
export { FileEventLog } from './streams/file/file-event-log.js';
export type { FileEventLogOptions, RecoveryReport } from './streams/file/file-event-log.js';
export { CachedAgent } from './compose/cached-agent.js';
export type { CachedAgentOptions, CacheStrategy } from './compose/cached-agent.js';
export { EntropyConstrainedAgent, DEFAULT_MAX_STATE_BYTES } from './compose/entropy-constrained-agent.js';
export type { EntropyConstrainedAgentOptions, EntropyDepthOptions, ExceedPolicy, SizeReport } from './compose/entropy-constrained-agent.js';
export { lens, LensAgent, propLens, pathLens } from './compose/lens.js';
export type { Lens, LensOptions } from './compose/lens.js';
export { symbiont } from './compose/symbiont.js';
export type { Symbiont, SymbiontLogic } from './compose/symbiont.js';
export { fallback, FallbackAgent } from './compose/fallback-agent.js';
export type { FallbackOptions, FallbackWritePolicy, FallbackBackend } from './compose/fallback-agent.js';
export { FallbackStore } from './failover/fallback-store.js';
export type { FallbackStoreOptions, FallbackAuditEntry } from './failover/fallback-store.js';
export { SqliteQueue } from './failover/sqlite-queue.js';
export type { SqliteQueueOptions } from './failover/sqlite-queue.js';
export type { WritePolicy, PrioritizedBackend } from './failover/policy.js';
export type { FailoverStatus, FailoverBackendStatus } from './failover/write-queue.js';
export { MemoryEventLog } from './streams/memory/memory-event-log.js';
export type { MemoryEventLogOptions, MemoryAppendTransaction } from './streams/memory/memory-event-log.js';
export { isMultiStreamAppender, isInlineProjectionHost } from './streams/event-log.js';
export type {
  EventLog,
  ExpectedRevision,
  NewEvent,
  RecordedEvent,
  AppendResult,
  AppendOptions,
  ReadOptions,
  ReadAllOptions,
  SubscribeOptions,
  Subscription,
  EventLogCapabilities,
  StreamAppend,
  MultiStreamAppender,
  AppendTransaction,
  AppendHook,
  InlineProjectionHost,
} from './streams/event-log.js';
export { catchUpSubscription } from './streams/subscription.js';
export type { CatchUpSource, CatchUpOptions } from './streams/subscription.js';
export { validateName, MAX_NAME_LENGTH } from './streams/validate.js';
export { StreamAgent } from './agents/stream-agent.js';
export type {
  StreamAgentOptions,
  StreamAgentCommonOptions,
  StreamEvent,
  RecordedStreamEvent,
  Fold,
  StreamAppendOptions,
  StreamSubscribeOptions,
  StreamAgentErrorContext,
  StreamAgentErrorReporter,
  StreamUnsubscribe,
} from './agents/stream-agent.js';
export { MemorySnapshotStore } from './agents/stream/memory-snapshot-store.js';
export { SqliteSnapshotStore } from './agents/stream/sqlite-snapshot-store.js';
export type { SqliteSnapshotStoreOptions } from './agents/stream/sqlite-snapshot-store.js';
export type { SnapshotStore, SnapshotRecord, SnapshotInfo, SnapshotQuery } from './agents/stream/snapshot-store.js';
export { STATE_EVENT, PATCH_EVENT } from './agents/stream/builtin-events.js';
export type { PatchEventData } from './agents/stream/builtin-events.js';
export { SqliteEventLog } from './streams/sqlite/sqlite-event-log.js';
export type { SqliteEventLogOptions, SqliteAppendTransaction } from './streams/sqlite/sqlite-event-log.js';
export { defineProjection, handlesType } from './projections/projection.js';
export type {
  Projection,
  ViewContext,
  ViewContextBase,
  ViewPhase,
  StorageKind,
  MemoryViewContext,
  SqliteViewContext,
  PostgresViewContext,
  RedisViewContext,
  RedisArg,
} from './projections/projection.js';
export { generationTableName, generationKey, NAME_PREFIX } from './projections/view-storage.js';
export type { ViewStorage, ActiveGeneration } from './projections/view-storage.js';
export type {
  ProjectionMode,
  ProjectionRegistration,
  ProjectionState,
  ProjectionError,
  ProjectionStatus,
  RebuildProgress,
  RebuildOptions,
  WhenCaughtUpOptions,
  ProjectionRunnerOptions,
} from './projections/runner/types.js';
export { ProjectionRunner } from './projections/runner/projection-runner.js';
export { MemoryViewStorage } from './projections/storage/memory-view-storage.js';
export { SqliteViewStorage } from './projections/storage/sqlite-view-storage.js';
export type { SqliteViewStorageOptions } from './projections/storage/sqlite-view-storage.js';
export {
  KEYED,
  KEYED_EVENT_TYPES,
  KEYED_SCHEMA_VERSION,
  KV_STREAM_PREFIX,
  MAX_NAMESPACE_LENGTH,
  UPCASTERS,
  keyedEvents,
  keyStream,
  namespaceStream,
  parseKeyedStream,
  validateNamespace,
  validateKey,
  isKeyedType,
  toKeyedEvent,
  toErasedKeyEvent,
  upcastPayload,
  RELATION,
  RELATION_EVENT_TYPES,
  RELATION_STREAM_PREFIX,
  relationStream,
  relationId,
  validatePredicate,
  isRelationType,
} from './projections/keyed-events.js';
export type {
  KeyedEvent,
  ErasedKeyEvent,
  KeyedEventType,
  KeyedMeta,
  Metadata,
  SetData,
  PatchedData,
  IncrementedData,
  MetadataData,
  EmptyData,
  ExpiredData,
  Upcasters,
  RelationData,
  RelationEventType,
  KeyRef,
} from './projections/keyed-events.js';
export { emptyModel, applyKeyedEvent, applyErasedEvent, foldKeyed, dumpModel, canonicalDump } from './projections/model.js';
export type { KeyedModel, KeyedViewsOptions as KeyedModelOptions, ViewsDump } from './projections/model.js';
export { keyedViews, viewReaders } from './projections/views/index.js';
export { relationsView, relationsReader } from './projections/views/relations/projection.js';
export type { RelationsViewOptions } from './projections/views/relations/projection.js';
export type { RelationsReader } from './projections/views/relations/types.js';
export type { RelationEntry, RelationChange, RelationsDump, RelationHistoryRetention, RelationHistoryRetentionOptions } from './projections/views/relations/rows.js';
export type { KeyedViewsOptions, ViewReaders } from './projections/views/index.js';
export { kvView } from './projections/views/kv/projection.js';
export type { KvViewOptions } from './projections/views/kv/projection.js';
export { versionsView } from './projections/views/versions/projection.js';
export type { VersionsViewOptions } from './projections/views/versions/projection.js';
export { auditView } from './projections/views/audit/projection.js';
export type { AuditViewOptions } from './projections/views/audit/projection.js';
export { MemoryKvReader } from './projections/views/kv/memory.js';
export { MemoryVersionsReader } from './projections/views/versions/memory.js';
export { MemoryAuditReader } from './projections/views/audit/memory.js';
export { SqliteKvReader } from './projections/views/kv/sqlite.js';
export { SqliteVersionsReader } from './projections/views/versions/sqlite.js';
export { SqliteAuditReader } from './projections/views/audit/sqlite.js';
export { validateFilters, validateQueryOptions, parsePath, matches as matchesFilters } from './projections/views/filter.js';
export { compareKeys, prefixEnd } from './projections/views/keys.js';
export type {
  KvReader,
  VersionsReader,
  AuditReader,
  AuditFilter,
  ListOptions as KvListOptions,
  ReadOptions as KvReadOptions,
  VersionTarget,
  QueryOptions as KvQueryOptions,
  ValueFilter,
  ValueSort,
  FilterOp,
  Primitive as FilterPrimitive,
  KvEntry,
  NamespaceEntry,
  VersionEntry,
  AuditEntry,
} from './projections/views/types.js';
export type { VersionRetention, VersionsRetentionOptions, AuditRetentionOptions } from './projections/views/rows.js';
export { Store, STORE_VIEWS } from './store/store.js';
export type { RebuildViewsOptions, StoreViewName } from './store/store.js';
export { StoreAgent } from './store/store-agent.js';
export type { StoreAgentOptions } from './store/store-agent.js';
export type { StoreTransaction } from './store/transaction.js';
export type { StoreChange, StoreRelationChange, SubscribeFilter as StoreSubscribeFilter, StoreUnsubscribe } from './store/subscribe.js';
export type { StoreRecipe } from './store/update.js';
export type { RelationKey, RelateResult, RelationHistoryOptions } from './store/relations.js';
export type { SetManyItem } from './store/writes.js';
export { ERASED_EVENT_TYPE } from './streams/erase.js';
export type { StreamEraser } from './streams/erase.js';
export type {
  StoreOptions,
  StoreClock,
  Authorize,
  AuthorizeRequest,
  OpOptions as StoreOpOptions,
  GetOptions as StoreGetOptions,
  StoreEntry,
  SetOptions as StoreSetOptions,
  SetResult as StoreSetResult,
  DeleteOptions as StoreDeleteOptions,
  ListOptions as StoreListOptions,
  ListPage as StoreListPage,
  QueryOptions as StoreQueryOptions,
  QueryResult as StoreQueryResult,
  DeleteNamespaceOptions,
  SetMetadataOptions,
  StoreVersion,
  VersionsOptions as StoreVersionsOptions,
  AuditQuery as StoreAuditQuery,
  IncrOptions,
  StoreStatus,
  AtTarget,
} from './store/types.js';
export { parseBackendUrl } from './open/backend-url.js';
export type { BackendKind, BackendTarget } from './open/backend-url.js';
export { fromEnv, ENV_VARIABLES } from './open/env.js';
export type { DgentEnv, EnvUrl, BackendRole } from './open/env.js';
export { openLog, logTarget } from './open/open-log.js';
export type { OpenLogOptions } from './open/open-log.js';
export { openAgent } from './open/open-agent.js';
export type { OpenAgentOptions } from './open/open-agent.js';
export { openStore } from './open/open-store.js';
export type { OpenStoreOptions } from './open/open-store.js';
export { exportLog } from './transfer/export-log.js';
export type { ExportOptions } from './transfer/export-log.js';
export { importLog, keepsTimes } from './transfer/import-log.js';
export type { ImportOptions, ImportResult } from './transfer/import-log.js';
export { eventToLine, lineToEvent, readJsonl } from './transfer/jsonl.js';
export type { ImportedEvent } from './transfer/jsonl.js';
export type { TransferProgress, OnProgress } from './transfer/progress.js';
export { verifyLog, verifyViews, verifyViewsReport } from './transfer/verify-log.js';
export type { VerifyOptions, VerifyReport, VerifyProblem, ViewsCompared } from './transfer/verify-log.js';
export type { AccessCacheStats, CacheStats, HealthOptions, HealthResult, ObservabilityOptions, OperationEvent, OperationStats, Stats } from './observability/types.js';
