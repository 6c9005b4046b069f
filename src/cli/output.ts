/**
 * What every command writes with: JSON or text on stdout, one-line notes on stderr, colour only
 * when stdout is a terminal (and NO_COLOR is unset), progress bars only when stderr is a terminal
 * and the output is not JSON. A pipe gets neither colours nor progress.
 */
import { InvalidArgumentError } from 'commander';
import { createColors } from 'picocolors';
import cliProgress from 'cli-progress';
import { toTree } from '../core/codec.js';
import type { RecordedEvent } from '../streams/event-log.js';

/** The global options every command sees. */
export interface GlobalOptions {
  json?: boolean;
  url?: string;
  color?: boolean;
  progress?: boolean;
}

function colourWanted(stream: NodeJS.WriteStream, flag: boolean | undefined): boolean {
  if (flag === false) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR !== undefined && process.env.FORCE_COLOR !== '0') return true;
  return stream.isTTY === true;
}

/** A progress reporter: `update(done, total?)` then `stop()`. A no-op when progress is off. */
export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update: () => undefined, stop: () => undefined };

/** The output of one command run. */
export class Output {
  readonly json: boolean;
  readonly c: ReturnType<typeof createColors>;
  private readonly progressOn: boolean;

  constructor(
    options: GlobalOptions,
    readonly stdout: NodeJS.WriteStream = process.stdout,
    readonly stderr: NodeJS.WriteStream = process.stderr,
  ) {
    this.json = options.json === true;
    this.c = createColors(colourWanted(stdout, options.color));
    this.progressOn = options.progress !== false && !this.json && stderr.isTTY === true;
  }

  /** Write a line to stdout. */
  line(text = ''): void {
    this.stdout.write(text + '\n');
  }

  /** Write a value as JSON (pretty, one document). */
  data(value: unknown): void {
    this.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** A note on stderr (never mixed into stdout, which may be piped to another program). */
  note(text: string): void {
    if (!this.json) this.stderr.write(text + '\n');
  }

  /** Rows as aligned columns (text mode). */
  table(head: string[], rows: string[][]): void {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? '').length)));
    const pad = (s: string, i: number): string => s + ' '.repeat(Math.max(0, widths[i]! - visible(s).length));
    this.line(this.c.bold(head.map(pad).join('  ').trimEnd()));
    for (const r of rows) this.line(r.map(pad).join('  ').trimEnd());
  }

  /** A progress bar on stderr for `what` (events, streams, ...); a no-op off a terminal. */
  progress(what: string, total?: number): Progress {
    if (!this.progressOn) return NO_PROGRESS;
    const known = total !== undefined;
    const bar = new cliProgress.SingleBar(
      {
        stream: this.stderr,
        format: known ? `{bar} {percentage}% | {value}/{total} ${what} | {speed}/s | ETA {eta_formatted}` : `{value} ${what} | {speed}/s | {duration_formatted}`,
        etaBuffer: 50,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = Date.now();
    bar.start(total ?? 0, 0, { speed: '0' });
    return {
      update(done: number, t?: number) {
        if (t !== undefined) bar.setTotal(t);
        const s = (Date.now() - started) / 1000;
        bar.update(done, { speed: s > 0 ? Math.round(done / s).toLocaleString('en') : '0' });
      },
      stop() {
        bar.stop();
      },
    };
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
function visible(s: string): string {
  return s.replace(ANSI, '');
}

/** An event as JSON: data and metadata as the codec's JSON tree (Dates, BigInts, bytes tagged), time ISO. */
export function eventJson(e: RecordedEvent): Record<string, unknown> {
  return { id: e.id, stream: e.stream, revision: e.revision, position: e.position, type: e.type, time: e.time.toISOString(), data: toTree(e.data), metadata: toTree(e.metadata ?? {}) };
}

/** `n` and `what`, in the plural unless n is 1: `plural(1, 'stream')` is `1 stream`. */
export function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** A short one-line rendering of a value for tables. */
export function short(value: unknown, max = 60): string {
  const text = JSON.stringify(toTree(value)) ?? 'undefined';
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}

/** Parse an integer option (commander passes strings). */
export function intOption(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}
