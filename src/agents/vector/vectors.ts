/**
 * Vector checks and conversions: every vector entering the agent passes through here, so the
 * index only ever sees `dimension` finite float32 values (unit length under the cosine metric).
 */
import { endianness } from 'node:os';
import { ValidationError } from '../../core/errors.js';
import type { VectorInput, VectorMetric } from './types.js';

/**
 * Check `v` and return it as a new Float32Array (normalised for cosine). Throws ValidationError
 * naming `path` on a wrong type, wrong length, a non-finite value or a zero cosine vector.
 */
export function toFloat32(v: unknown, dimension: number, metric: VectorMetric, path: string): Float32Array {
  if (!(Array.isArray(v) || v instanceof Float32Array)) {
    throw new ValidationError(`vector must be an array or Float32Array of ${dimension} numbers`, [{ message: 'not a vector', path }]);
  }
  const src = v as ArrayLike<unknown>;
  if (src.length !== dimension) {
    throw new ValidationError(`vector has ${src.length} values, expected dimension ${dimension}`, [{ message: `length ${src.length} != ${dimension}`, path }]);
  }
  const out = new Float32Array(dimension);
  let norm = 0;
  for (let i = 0; i < dimension; i++) {
    const x = src[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw new ValidationError(`vector value ${String(x)} is not a finite number`, [{ message: 'not a finite number', path: `${path}[${i}]` }]);
    }
    out[i] = x;
    // float32 overflow turns a finite double into Infinity
    if (!Number.isFinite(out[i]!)) throw new ValidationError(`vector value ${x} overflows float32`, [{ message: 'overflows float32', path: `${path}[${i}]` }]);
    norm += out[i]! * out[i]!;
  }
  if (metric === 'cosine') {
    if (!(norm > 0) || !Number.isFinite(norm)) {
      throw new ValidationError('the cosine metric needs a non-zero vector of finite length', [{ message: 'zero or unnormalisable vector', path }]);
    }
    const inv = 1 / Math.sqrt(norm);
    for (let i = 0; i < dimension; i++) out[i] = out[i]! * inv;
  }
  return out;
}

/**
 * `v` as a plain array (faiss-node's binding takes only arrays), written into `out` when given
 * (it must have `v.length` slots). A loop into a presized array is about 10x faster than
 * `Array.from` on a typed array, which matters per search query and for every vector added.
 */
export function toNumbers(v: Float32Array, out: number[] = new Array<number>(v.length)): number[] {
  for (let i = 0; i < v.length; i++) out[i] = v[i]!;
  return out;
}

/** The score of stored vector `x` (at `offset` in `data`) against query `q`; see VectorMetric. */
export function scoreAt(metric: VectorMetric, q: Float32Array, data: Float32Array, offset: number): number {
  const d = q.length;
  let s = 0;
  if (metric === 'l2') {
    for (let i = 0; i < d; i++) {
      const t = q[i]! - data[offset + i]!;
      s += t * t;
    }
  } else {
    for (let i = 0; i < d; i++) s += q[i]! * data[offset + i]!;
  }
  return s;
}

/** True when score `a` ranks before score `b` under `metric`. */
export function better(metric: VectorMetric, a: number, b: number): boolean {
  return metric === 'l2' ? a < b : a > b;
}

const LE = endianness() === 'LE';

/** Little-endian bytes of float32 values (for the log and the index file); a copy. */
export function floatsToBytes(v: Float32Array): Uint8Array {
  if (LE) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  const out = new Uint8Array(v.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i]!, true);
  return out;
}

/** Float32 values from little-endian bytes; `undefined` when the length is not a multiple of 4. */
export function bytesToFloats(b: Uint8Array): Float32Array | undefined {
  if (b.byteLength % 4 !== 0) return undefined;
  // a copy also aligns the data (a Float32Array view needs a 4-byte aligned offset)
  if (LE) return new Float32Array(new Uint8Array(b).buffer, 0, b.byteLength / 4);
  const out = new Float32Array(b.byteLength / 4);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
