/**
 * `dgent/vector`: the VectorAgent, semantic memory on FAISS (faiss-node, an optional dependency
 * loaded only here, on first use) with an exact TypeScript fallback.
 *
 * @example
 * ```ts
 * import { VectorAgent } from 'dgent/vector';
 * const memory = await VectorAgent.open<{ text: string }>('./memory.vec', { dimension: 384, metric: 'cosine', index: 'HNSW' });
 * await memory.upsert([{ id: 'fact-1', vector: embedding, data: { text: 'likes tea' } }]);
 * console.log(await memory.search(query, { k: 3 }));
 * ```
 */
export { VectorAgent } from './agents/vector-agent.js';
export { VECTOR_EVENTS } from './agents/vector/log-events.js';
export { faissAvailable } from './agents/vector/faiss-binding.js';
export type {
  VectorAgentOptions,
  VectorMetric,
  VectorIndexKind,
  VectorEngine,
  VectorInput,
  VectorItem,
  VectorHit,
  VectorSearchOptions,
  StoredVector,
} from './agents/vector/types.js';
