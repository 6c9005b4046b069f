/**
 * `dgent/langgraph`: LangGraph.js on dgent. `DgentSaver` is a checkpointer (a `BaseCheckpointSaver`
 * of `@langchain/langgraph-checkpoint`, a peer dependency) on any dgent EventLog: storage that grows
 * with what changed, fenced writers, cheap forks, prune and TTL. `DgentStore` is LangGraph's
 * long-term memory store (a `BaseStore`) on the dgent Store: filters, TTL, semantic search, and every
 * item's versions and time travel.
 *
 * @example
 * ```ts
 * import { DgentSaver } from 'dgent/langgraph';
 * const checkpointer = new DgentSaver({ path: './data/graph.db' }); // or { connectionString } / { log }
 * const graph = workflow.compile({ checkpointer });
 * ```
 */
export { DgentSaver } from './langgraph/dgent-saver.js';
export type { PruneOptions, CopyThreadOptions } from './langgraph/dgent-saver.js';
export type { DgentSaverOptions, DgentSaverCommonOptions } from './langgraph/options.js';
export { DgentStore } from './langgraph/dgent-store.js';
export type { DgentItem, DgentSearchItem, DgentItemVersion, DgentPutOperation } from './langgraph/dgent-store.js';
export type { DgentStoreOptions, DgentStoreCommonOptions, DgentStoreTtlConfig } from './langgraph/dgent-store-options.js';
export type { DgentStoreIndexConfig, EmbeddingsLike, EmbedFunction } from './langgraph/dgent-store-vectors.js';
