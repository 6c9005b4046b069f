/** The reader side of the relations view: the same interface on every backend. */
import type { KeyRef, RelationChange, RelationEntry } from './rows.js';

export type { KeyRef, RelationChange, RelationEntry } from './rows.js';

/** Reads of the relations view (the active generation of its projection). */
export interface RelationsReader {
  /** live relations of `subject` (with `predicate`, or every predicate), by predicate then object (code point order) */
  related(subject: KeyRef, predicate?: string): Promise<RelationEntry[]>;
  /** live relations pointing at `object` (with `predicate`, or every predicate), by predicate then subject */
  relatedTo(object: KeyRef, predicate?: string): Promise<RelationEntry[]>;
  /** one live relation, or undefined */
  get(subject: KeyRef, predicate: string, object: KeyRef): Promise<RelationEntry | undefined>;
  /** the changes of one relation, newest first */
  history(subject: KeyRef, predicate: string, object: KeyRef, o?: { limit?: number | undefined }): Promise<RelationChange[]>;
  /** every live relation (tests, dumps) */
  all(): Promise<RelationEntry[]>;
  /** every history row (tests, dumps) */
  allHistory(): Promise<RelationChange[]>;
}
