/**
 * The client's reads, iterated without leaving gRPC calls that the client's `dispose()` waits on.
 *
 * Why: a read (`readStream`, `readAll`) is a gRPC call piped into the client's `ReadStream`. When
 * the consumer stops early (a limit reached, `revision()`'s one event, an id-claim lookup) the
 * `ReadStream` is destroyed and the call's own readable is unpiped and left paused. If the
 * server's status has already arrived, `cancel()` is a no-op and that readable never emits
 * `'end'`: its buffered events are never read. `dispose()` waits for every call to finish, so it
 * waited for ever. Here every abandoned call is cancelled AND drained (`resume()`), which lets it
 * end whichever side finished first. `close()` does the same for reads whose consumer is still
 * holding the iterator, and names the ones that would not finish.
 */
import { finished, type Readable } from 'node:stream';
import type { StreamingRead } from '@eventstore/db-client';
import { ClosedError } from '../../core/errors.js';

/** The gRPC call under a `ReadStream`: a readable with `cancel()` (grpc-js `ClientReadableStreamImpl`). */
type GrpcCall = Readable & { cancel?(): void };

interface OpenRead {
  readonly what: string;
  readonly reader: StreamingRead<unknown>;
  call?: GrpcCall;
  callDone: boolean;
  readerDone: boolean;
}

/** The reads of one log that have not finished, so `close()` can end them and report the ones that would not end. */
export class OpenReads {
  private readonly open = new Set<OpenRead>();
  private closed = false;

  /** Descriptions of the reads whose gRPC call has not finished. */
  describe(): string[] {
    return [...this.open].map((r) => `${r.what} (gRPC call ${r.call === undefined ? 'not started' : 'open'}${r.readerDone ? ', consumer gone' : ''})`);
  }

  /**
   * Iterate `reader` (`what` names it in reports). When the consumer stops early, or the log is
   * closed under it, the gRPC call is cancelled and drained. After `abortAll()` the iteration
   * throws ClosedError.
   */
  async *entries<T>(reader: StreamingRead<T>, what: string): AsyncGenerator<T> {
    if (this.closed) {
      abandon(reader, undefined);
      throw new ClosedError('EventStoreDBEventLog');
    }
    const entry: OpenRead = { what, reader: reader as StreamingRead<unknown>, callDone: false, readerDone: false };
    this.open.add(entry);
    const settle = (): void => {
      if (entry.readerDone && (entry.callDone || entry.call === undefined)) this.open.delete(entry);
    };
    // the ReadStream pipes the call into itself once the gRPC client exists: that is our one handle on the call
    reader.once('pipe', (piped: unknown) => {
      const src = piped as GrpcCall;
      entry.call = src;
      finished(src, () => {
        entry.callDone = true;
        settle();
      });
      if (this.closed || entry.readerDone) drain(src);
    });
    reader.on('error', () => undefined); // the iteration gets every error itself; this keeps a destroyed, unread reader from crashing the process
    reader.once('close', () => {
      entry.readerDone = true;
      settle();
    });
    let ended = false;
    try {
      for await (const x of reader) yield x as T;
      ended = true;
    } catch (e) {
      if (this.closed) throw new ClosedError('EventStoreDBEventLog');
      throw e;
    } finally {
      if (!ended) abandon(reader, entry.call);
    }
  }

  /** Close: end every open read (their consumers get ClosedError) and drain their calls. */
  abortAll(): void {
    this.closed = true;
    for (const r of this.open) {
      if (!r.reader.destroyed) r.reader.destroy(new ClosedError('EventStoreDBEventLog'));
      if (r.call !== undefined) drain(r.call);
    }
  }

  /** Last resort after `dispose()` timed out: destroy the calls that still have not finished. */
  destroyAll(): void {
    for (const r of this.open) r.call?.destroy();
  }
}

/** The consumer left early: destroy its ReadStream (if the for-await did not) and cancel + drain the call. */
function abandon(reader: StreamingRead<unknown>, call: GrpcCall | undefined): void {
  if (!reader.destroyed) reader.destroy();
  if (call !== undefined) drain(call);
}

/**
 * Cancel the call (the server stops sending) and read and drop what it already buffered, so it reaches
 * `'end'` even when its status arrived while it was paused. The cancel is deferred a tick, as the
 * client's own `ReadStream.cancel()` does (grpc-node issues 1464, 1652).
 */
function drain(call: GrpcCall): void {
  call.on('error', () => undefined); // the CANCELLED status or a late failure: nobody reads this call any more
  // unpipe first: the pipe's own cleanup (on the ReadStream's 'close', a tick later) would pause the call again
  call.unpipe();
  call.resume();
  setImmediate(() => call.cancel?.());
}
