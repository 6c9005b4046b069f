/**
 * `dgent tail [url] [--stream s] [--limit n] [--follow]`: the last events of the log (or of one
 * stream), then with --follow every new one as it is appended, until Ctrl-C. With --json one JSON
 * object per line (NDJSON), since the output may never end.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, requireStream, withLog } from '../backend.js';
import { eventJson, intOption, short, type Output } from '../output.js';
import type { EventLog, RecordedEvent } from '../../streams/event-log.js';
import { headPosition } from '../../projections/runner/log-head.js';

function print(out: Output, e: RecordedEvent): void {
  if (out.json) out.line(JSON.stringify(eventJson(e)));
  else out.line(`${out.c.dim(e.time.toISOString())} ${String(e.position).padStart(6)} ${out.c.cyan(`${e.stream}@${e.revision}`)} ${out.c.yellow(e.type)} ${short(e.data, 100)}`);
}

async function last(log: EventLog, stream: string | undefined, n: number): Promise<RecordedEvent[]> {
  if (stream !== undefined) {
    const got: RecordedEvent[] = [];
    if (n === 0) return got;
    for await (const e of log.read(stream, { direction: 'backward', limit: n })) got.push(e);
    return got.reverse();
  }
  const ring: RecordedEvent[] = [];
  for await (const e of log.readAll()) {
    ring.push(e);
    if (ring.length > n) ring.shift();
  }
  return ring;
}


export function tailCommand() {
  return command('tail', 'print the last events, and with --follow new ones as they come')
    .argument('[url]', 'backend URL')
    .option('--stream <stream>', 'only this stream')
    .option('-n, --limit <n>', 'how many of the last events to print first (default 10)', intOption('--limit', 0))
    .option('-f, --follow', 'keep printing new events until Ctrl-C')
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const stream = options.stream as string | undefined;
      const n = (options.limit as number | undefined) ?? 10;
      await withLog(
        chosenUrl(url, options),
        async (log) => {
          if (stream !== undefined && !options.follow) await requireStream(log, stream);
          const events = await last(log, stream, n);
          for (const e of events) print(out, e);
          if (!options.follow) return;
          const from = events.length > 0 ? events[events.length - 1]!.position : await headPosition(log);
          const sub = log.subscribe({ fromPosition: from, ...(stream === undefined ? {} : { stream }) }, (e) => print(out, e));
          const stop = new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
          await Promise.race([stop, sub.done]);
          await sub.close();
        },
        { readOnly: true },
      );
    });
}
