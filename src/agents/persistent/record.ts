/**
 * The on-disk record of one saved state, used both as the whole document and as one history line:
 *
 * `{"crc32c":"1a2b3c4d","version":3,"time":1700000000000,"schemaVersion":0,"state":<codec JSON>}`
 *
 * It is plain JSON (readable with `jq`), and the checksum (CRC-32C, fixed width, first field)
 * covers every byte after it, so a torn, truncated or bit-flipped record is detected before its
 * state is decoded.
 */
import { crc32c } from '@node-rs/crc32';
import { fromTree } from '../../core/codec.js';
import { CorruptionError } from '../../core/errors.js';

/** What a record says about itself, without decoding the state. */
export interface RecordHeader {
  crc: string;
  version: number;
  time: number;
  schemaVersion: number;
}

const PREFIX = '{"crc32c":"';
/** `{"crc32c":"` + 8 hex digits + `",` */
const BODY_START = PREFIX.length + 10;
const HEADER = /^"version":(\d{1,15}),"time":(-?\d{1,16}),"schemaVersion":(\d{1,9}),"state":/;

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

/** Encode a record (without a trailing newline). `stateText` is the codec's JSON of the state. */
export function encodeRecord(version: number, time: number, schemaVersion: number, stateText: string): { text: string; crc: string } {
  const body = `"version":${version},"time":${time},"schemaVersion":${schemaVersion},"state":${stateText}}`;
  const crc = hex8(crc32c(body));
  return { text: `${PREFIX}${crc}",${body}`, crc };
}

/**
 * {@link encodeRecord} as the bytes of one line (with its trailing newline), ready to write: the
 * state is encoded to UTF-8 once, straight into the line, and the checksum is taken over those
 * bytes, not over a second encoding of the same text.
 */
export function encodeRecordLine(version: number, time: number, schemaVersion: number, stateText: string): { line: Buffer; crc: string } {
  const head = `"version":${version},"time":${time},"schemaVersion":${schemaVersion},"state":`;
  const stateStart = BODY_START + head.length; // the prefix and the header are ASCII: one byte per character
  const stateBytes = Buffer.byteLength(stateText, 'utf8');
  const line = Buffer.allocUnsafe(stateStart + stateBytes + 2);
  line.write(PREFIX, 0, 'latin1');
  line.write('",', PREFIX.length + 8, 'latin1');
  line.write(head, BODY_START, 'latin1');
  line.write(stateText, stateStart, 'utf8');
  line[line.length - 2] = 0x7d; // }
  line[line.length - 1] = 0x0a; // \n
  const crc = hex8(crc32c(line.subarray(BODY_START, line.length - 1)));
  line.write(crc, PREFIX.length, 'latin1');
  return { line, crc };
}

/** The checksum field of a record, read from its first bytes; undefined when malformed. */
export function recordCrc(text: string): string | undefined {
  if (!text.startsWith(PREFIX) || text.slice(PREFIX.length + 8, BODY_START) !== '",') return undefined;
  const crc = text.slice(PREFIX.length, PREFIX.length + 8);
  return /^[0-9a-f]{8}$/.test(crc) ? crc : undefined;
}

/** Length of the prefix that {@link recordCrc} needs. */
export const CRC_PREFIX_LENGTH = BODY_START;

/**
 * Verify a record's checksum and read its header. Returns a reason string instead of throwing so
 * that history scans can tell a torn tail from corruption and name the line.
 */
export function verifyRecord(text: string): RecordHeader | string {
  const crc = recordCrc(text);
  if (crc === undefined) return 'not a dgent record';
  const body = text.slice(BODY_START);
  if (hex8(crc32c(body)) !== crc) return 'checksum mismatch';
  const m = HEADER.exec(body);
  if (!m) return 'malformed record header';
  return { crc, version: Number(m[1]), time: Number(m[2]), schemaVersion: Number(m[3]) };
}

/** Decode the state of a verified record; the result is deeply frozen. */
export function decodeRecordState(text: string, location: string): unknown {
  let parsed: { state?: unknown };
  try {
    parsed = JSON.parse(text) as { state?: unknown };
  } catch (e) {
    throw new CorruptionError(`record is not valid JSON: ${(e as Error).message}`, location, { cause: e });
  }
  if (typeof parsed !== 'object' || parsed === null || !('state' in parsed)) throw new CorruptionError('record has no state', location);
  return fromTree(parsed.state, location);
}
