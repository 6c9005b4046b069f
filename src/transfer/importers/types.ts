import type { ImportedEvent } from '../jsonl.js';

/** Writes batches of imported events to one log, in order, each batch atomically. */
export interface BatchImporter {
  /** resolves to how many events were written (events already stored by the same id are skipped) */
  write(batch: readonly ImportedEvent[]): Promise<number>;
  close(): Promise<void>;
}
