/**
 * Argument checks of the VectorAgent: options, items and ids. Everything is checked before
 * anything is logged or indexed, so a rejected call changes nothing.
 */
import { prepare } from '../../core/codec.js';
import { ValidationError, shown } from '../../core/errors.js';
import { checkFilePath } from '../../core/atomic-file.js';
import type { ItemTable } from './item-table.js';
import type { VectorBatch } from './log-events.js';
import { parseIndexSpec } from './faiss-index.js';
import type { VectorAgentOptions, VectorEngine, VectorItem, VectorMetric } from './types.js';
import { toFloat32 } from './vectors.js';

/** Options with defaults filled in. */
export interface CheckedOptions {
  dimension: number;
  metric: VectorMetric;
  index: string;
  engine: VectorEngine;
  path: string | undefined;
  stream: string;
  hnswM: number;
  efConstruction: number;
  efSearch: number;
  nlist: number;
  nprobe: number;
  trainSize: number;
  compactRatio: number;
}

function int(name: string, v: unknown, dflt: number, min: number, max = 2 ** 31 - 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(`${name} must be an integer in [${min}, ${max}], got ${shown(v)}`, [{ message: 'out of range', path: name }]);
  }
  return v;
}

/** Check the constructor options and fill in defaults. */
export function checkOptions(o: VectorAgentOptions): CheckedOptions {
  if (typeof o !== 'object' || o === null) throw new ValidationError('VectorAgent needs an options object');
  const dimension = int('dimension', o.dimension, NaN, 1, 65536);
  if (!['l2', 'ip', 'cosine'].includes(o.metric)) throw new ValidationError(`metric must be 'l2', 'ip' or 'cosine', got ${shown(o.metric)}`);
  const engine = o.engine ?? 'auto';
  if (!['faiss', 'js', 'auto'].includes(engine)) throw new ValidationError(`engine must be 'faiss', 'js' or 'auto', got ${shown(engine)}`);
  if (o.path !== undefined) checkFilePath(o.path);
  const stream = o.stream ?? 'vectors';
  if (typeof stream !== 'string' || stream.length === 0) throw new ValidationError('stream must be a non-empty string');
  if (o.log !== undefined && (typeof o.log !== 'object' || o.log === null || typeof o.log.append !== 'function')) throw new ValidationError('log must be an EventLog');
  const compactRatio = o.compactRatio ?? 0.2;
  if (typeof compactRatio !== 'number' || !(compactRatio > 0 && compactRatio <= 1)) throw new ValidationError(`compactRatio must be in (0, 1], got ${shown(compactRatio)}`);
  const index = o.index ?? 'Flat';
  const hnswM = int('hnswM', o.hnswM, 32, 2, 512);
  const nlist = int('nlist', o.nlist, 128, 1, 1 << 24);
  const spec = parseIndexSpec(index, hnswM, nlist);
  return {
    dimension,
    metric: o.metric,
    index,
    engine,
    path: o.path,
    stream,
    hnswM,
    efConstruction: int('efConstruction', o.efConstruction, 80, 1),
    efSearch: int('efSearch', o.efSearch, 64, 1),
    nlist,
    nprobe: int('nprobe', o.nprobe, 16, 1),
    trainSize: int('trainSize', o.trainSize, spec.minTrain > 1 ? 39 * spec.minTrain : 1, 1),
    compactRatio,
  };
}

function checkId(id: unknown, path: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new ValidationError(`id must be a non-empty string, got ${JSON.stringify(id) ?? String(id)}`, [{ message: 'bad id', path }]);
  return id;
}

/** Check ids for `remove`. */
export function checkIds(ids: readonly string[]): string[] {
  if (!Array.isArray(ids)) throw new ValidationError('ids must be an array of strings');
  return ids.map((id, i) => checkId(id, `$[${i}]`));
}

/**
 * Check a batch for add (`fresh`: no id may be stored already) or upsert: ids non-empty and not
 * repeated, vectors of the right length and finite, data encodable (SerializationError otherwise).
 */
export function checkItems<T>(items: readonly VectorItem<T>[], o: CheckedOptions, table: ItemTable<T>, fresh: boolean): VectorBatch {
  if (!Array.isArray(items)) throw new ValidationError('items must be an array of { id, vector, data? }');
  const n = items.length;
  const ids: string[] = new Array<string>(n);
  const vectors = new Float32Array(n * o.dimension);
  const data: unknown[] = new Array<unknown>(n);
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const it = items[i] as VectorItem<T> | undefined;
    if (typeof it !== 'object' || it === null) throw new ValidationError('each item must be an object { id, vector, data? }', [{ message: 'not an object', path: `$[${i}]` }]);
    const id = checkId(it.id, `$[${i}].id`);
    if (seen.has(id)) throw new ValidationError(`id ${JSON.stringify(id)} appears twice in one call`, [{ message: 'duplicate id', path: `$[${i}].id` }]);
    if (fresh && table.has(id)) throw new ValidationError(`id ${JSON.stringify(id)} is already stored; use upsert() to replace it`, [{ message: 'id exists', path: `$[${i}].id` }]);
    seen.add(id);
    ids[i] = id;
    vectors.set(toFloat32(it.vector, o.dimension, o.metric, `$[${i}].vector`), i * o.dimension);
    data[i] = it.data === undefined ? undefined : prepare(it.data).value;
  }
  return { ids, vectors, data };
}
