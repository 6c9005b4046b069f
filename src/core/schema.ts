/**
 * Typed load: an optional Standard Schema validator (zod 4, valibot, arktype implement it) and
 * numbered migrations applied on read.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ValidationError } from './errors.js';

export type { StandardSchemaV1 };

/**
 * One migration: the state as stored at the previous schema version in, the next version's shape
 * out. Its input is `unknown` unless the migration declares the shape it expects
 * (`(v0: { fullName: string }) => ...`): stored data comes from disk, so that declaration is the
 * author's promise, best backed by a `schema` on the agent, which checks the final result.
 */
// A method signature makes the parameter bivariant: a migration may declare its input's shape.
export type Migration = { migrate(state: unknown): unknown }['migrate'];

/**
 * Migrations by target version: `{ 1: (v0) => v1, 2: (v1) => v2 }`. A document stored at schema
 * version n is passed through migrations n+1, n+2, ... up to the highest key on read; the last
 * one's result is the agent's state `S` (checked by the agent's `schema` when it has one).
 */
export type Migrations = Readonly<Record<number, Migration>>;

/** The schema version a set of migrations brings states to (0 without migrations). */
export function latestSchemaVersion(migrations: Migrations | undefined): number {
  if (!migrations) return 0;
  let max = 0;
  for (const k of Object.keys(migrations)) {
    const n = Number(k);
    if (!Number.isInteger(n) || n < 1) throw new ValidationError(`migration keys must be integers >= 1, got ${JSON.stringify(k)}`);
    max = Math.max(max, n);
  }
  for (let i = 1; i <= max; i++) {
    if (typeof migrations[i] !== 'function') throw new ValidationError(`migrations must be numbered 1..${max} without gaps; ${i} is missing`);
  }
  return max;
}

/** Apply migrations from `fromVersion` to the latest. */
export function migrate(state: unknown, fromVersion: number, migrations: Migrations | undefined): unknown {
  const latest = latestSchemaVersion(migrations);
  if (fromVersion > latest) {
    throw new ValidationError(`stored state has schema version ${fromVersion}, newer than this code knows (${latest}); upgrade the code`);
  }
  let s = state;
  for (let v = fromVersion + 1; v <= latest; v++) s = migrations![v]!(s);
  return s;
}

/** Validate synchronously with a Standard Schema; returns the (possibly transformed) value. */
export function validateWith<T>(schema: StandardSchemaV1<unknown, T> | undefined, value: unknown, what = 'state'): T {
  if (!schema) return value as T;
  const result = schema['~standard'].validate(value);
  if (result instanceof Promise) throw new ValidationError(`${what}: async schemas are not supported; use a synchronous validator`);
  if (result.issues) {
    const issues = result.issues.map((i) => ({
      message: i.message,
      path: i.path?.map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.'),
    }));
    throw new ValidationError(`${what} failed validation: ${issues.map((i) => (i.path ? `${i.path}: ` : '') + i.message).join('; ')}`, issues);
  }
  return result.value;
}
