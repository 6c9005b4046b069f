/**
 * The JSONL form of a log: one event per line, in position order, with everything a log stores:
 * `{"id","stream","revision","position","type","time","data","metadata"}`. `data` and `metadata`
 * are in dgent's codec form (JSON with tagged Date, Map, Set, BigInt, bytes), `time` is ISO 8601
 * with milliseconds. Positions are the source's: an import keeps their order, not their values
 * (the target numbers its events itself).
 */
import { encode, fromTree, TAG_MARK } from '../core/codec.js';
import { ValidationError } from '../core/errors.js';
import type { RecordedEvent } from '../streams/event-log.js';

/**
 * An event to import: a recorded event whose position is only its order in the input. `encoded`
 * carries the codec text of data and metadata when the reader already has it (a JSONL line holds
 * it), so that importers need not encode the decoded values again.
 */
export type ImportedEvent = Omit<RecordedEvent, 'position'> & { position?: number | undefined; encoded?: { data: string; metadata: string } | undefined };

/** One line (without the newline) for an event. */
export function eventToLine(e: RecordedEvent): string {
  return (
    `{"id":${JSON.stringify(e.id)},"stream":${JSON.stringify(e.stream)},"revision":${e.revision},"position":${e.position},` +
    `"type":${JSON.stringify(e.type)},"time":${JSON.stringify(e.time.toISOString())},"data":${encode(e.data)},"metadata":${encode(e.metadata ?? {})}}`
  );
}

function bad(lineNo: number, problem: string): never {
  throw new ValidationError(`import: line ${lineNo}: ${problem}`, [{ message: problem, path: `line ${lineNo}` }]);
}

/** Parse one line; a malformed line is a ValidationError naming its number and what is wrong. */
export function lineToEvent(line: string, lineNo: number): ImportedEvent {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch (e) {
    bad(lineNo, `not JSON (${(e as Error).message})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) bad(lineNo, 'not a JSON object');
  for (const k of ['id', 'stream', 'type', 'time'] as const) if (typeof o[k] !== 'string' || (o[k] as string).length === 0) bad(lineNo, `"${k}" must be a non-empty string`);
  if (!Number.isInteger(o.revision) || (o.revision as number) < 1) bad(lineNo, '"revision" must be an integer >= 1');
  if (o.position !== undefined && (!Number.isInteger(o.position) || (o.position as number) < 1)) bad(lineNo, '"position" must be an integer >= 1');
  const time = new Date(o.time as string);
  if (Number.isNaN(time.getTime())) bad(lineNo, `"time" ${JSON.stringify(o.time)} is not a date`);
  if (!('data' in o)) bad(lineNo, '"data" is missing');
  // The codec's text is the JSON of its tree: re-serialise the parsed tree instead of encoding the
  // decoded value again (a line without the tag mark holds plain JSON: nothing to revive).
  const encoded = { data: JSON.stringify(o.data), metadata: o.metadata === undefined ? '{}' : JSON.stringify(o.metadata) };
  const plain = !line.includes(TAG_MARK);
  const metadata = o.metadata === undefined ? {} : plain ? (o.metadata as Record<string, unknown>) : fromTree<Record<string, unknown>>(o.metadata, `line ${lineNo}`);
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) bad(lineNo, '"metadata" must be an object');
  return {
    encoded,
    id: o.id as string,
    stream: o.stream as string,
    revision: o.revision as number,
    position: o.position as number | undefined,
    type: o.type as string,
    time,
    data: plain ? o.data : fromTree(o.data, `line ${lineNo}`),
    metadata,
  };
}

/** The events of a JSONL text stream (lines split across chunks are joined; blank lines skipped). */
export async function* readJsonl(input: AsyncIterable<string | Buffer> | Iterable<string | Buffer>): AsyncIterable<ImportedEvent> {
  let rest = '';
  let lineNo = 0;
  const decoder = new TextDecoder();
  for await (const chunk of input) {
    rest += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    let start = 0;
    while ((nl = rest.indexOf('\n', start)) >= 0) {
      const line = rest.slice(start, nl);
      start = nl + 1;
      lineNo++;
      if (line.trim()) yield lineToEvent(line, lineNo);
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest.trim()) yield lineToEvent(rest, lineNo + 1);
}
