/** Progress of a long operation (export, import, rebuilds), as reported to `onProgress`. */
export interface TransferProgress {
  /** items done so far */
  done: number;
  /** items in all, when known */
  total?: number | undefined;
  /** the position of the last event handled, when the items are events */
  position?: number | undefined;
}

/** Called every `every` items and once at the end; errors thrown by it abort the operation. */
export type OnProgress = (p: TransferProgress) => void;
