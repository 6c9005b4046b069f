/** Iterating the client's reads without leaking calls. */
import type { StreamingRead } from '@eventstore/db-client';

/**
 * Iterate `reader`; when the consumer stops early, cancel the gRPC call. Breaking out of the
 * client's stream alone leaves the call open and unread, and the client's `dispose()` then waits
 * for it forever.
 */
export async function* entries<T>(reader: StreamingRead<T>): AsyncGenerator<T> {
  let ended = false;
  try {
    for await (const x of reader) yield x as T;
    ended = true;
  } finally {
    if (!ended) await reader.cancel();
  }
}
