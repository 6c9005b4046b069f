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
