/**
 * `dgent export [url] [-o file] [--prefix p] [--from-position n]`: the log as JSONL on stdout (or
 * into a file), in position order, with every id, revision, position, time and metadata. Pipe it
 * into `dgent import` to migrate: `dgent export sqlite:./a.db | dgent import postgres://…`.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog } from '../backend.js';
import { intOption } from '../output.js';
import { exportLog } from '../../transfer/export-log.js';
import { headPosition } from '../../projections/runner/log-head.js';

export function exportCommand() {
  return command('export', 'write the log as JSONL (one event per line) to stdout or a file')
    .argument('[url]', 'backend URL')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--prefix <prefix>', 'only streams whose name starts with this')
    .option('--from-position <n>', 'only events after this position', intOption('--from-position', 0))
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const file = options.output as string | undefined;
      const sink = file ? createWriteStream(file) : process.stdout;
      const count = await withLog(
        chosenUrl(url, options),
        async (log) => {
          // the head position is the event count where positions are gapless, an estimate elsewhere
          const bar = out.progress('events', out.json ? undefined : await headPosition(log));
          let n = 0;
          let buffer = '';
          try {
            for await (const line of exportLog(log, {
              fromPosition: options.fromPosition as number | undefined,
              streamPrefix: options.prefix as string | undefined,
              onProgress: (p) => bar.update(p.done),
            })) {
              buffer += line + '\n';
              n++;
              if (buffer.length >= 1 << 16) {
                if (!sink.write(buffer)) await once(sink, 'drain');
                buffer = '';
              }
            }
            if (buffer) sink.write(buffer);
          } finally {
            bar.stop();
          }
          return n;
        },
        { readOnly: true },
      );
      if (file) {
        sink.end();
        await once(sink, 'finish');
      }
      // stdout carries the data: the summary goes to stderr (and only on a terminal or with a file)
      if (file || process.stderr.isTTY) out.note(`exported ${count} events${file ? ` to ${file}` : ''}`);
      if (out.json && file) out.data({ exported: count, file });
    });
}
