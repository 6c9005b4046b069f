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
export type { Migrations, StandardSchemaV1 } from './core/schema.js';

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
  ChangeInfo,
  Unsubscribe,
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
