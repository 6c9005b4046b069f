/** `dgent read <stream> [--from r] [--to r] [--limit n] [--backward]`: a stream's events. */
import { command, outputOf } from '../command.js';
import { chosenUrl, requireStream, withLog } from '../backend.js';
import { eventJson, intOption, short } from '../output.js';
import type { RecordedEvent } from '../../streams/event-log.js';

export function readCommand() {
  return command('read', "print a stream's events")
    .argument('<stream>', 'stream name')
    .option('--from <revision>', 'first revision (inclusive)', intOption('--from', 1))
    .option('--to <revision>', 'last revision (inclusive)', intOption('--to', 1))
    .option('--limit <n>', 'at most n events', intOption('--limit', 1))
    .option('--backward', 'newest first')
    .action(async (stream: string, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const events = await withLog(
        chosenUrl(undefined, options),
        async (log) => {
          await requireStream(log, stream);
          const got: RecordedEvent[] = [];
          for await (const e of log.read(stream, {
            fromRevision: options.from as number | undefined,
            toRevision: options.to as number | undefined,
            limit: options.limit as number | undefined,
            direction: options.backward ? 'backward' : 'forward',
          })) {
            got.push(e);
          }
          return got;
        },
        { readOnly: true },
      );
      if (out.json) return out.data(events.map(eventJson));
      out.table(
        ['REV', 'POSITION', 'TIME', 'TYPE', 'DATA'],
        events.map((e) => [out.c.cyan(String(e.revision)), String(e.position), e.time.toISOString(), out.c.yellow(e.type), short(e.data)]),
      );
    });
}
