/**
 * `dgent import [url] [-i file] [--new-times] [--batch-size n]`: read JSONL (from `dgent export`)
 * on stdin or from a file and write it into the log, keeping ids, revisions, metadata, times and
 * position order. Resumable: events already stored with the same id are skipped.
 */
import { createReadStream } from 'node:fs';
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { intOption } from '../output.js';
import { importLog } from '../../transfer/import-log.js';
import { readJsonl } from '../../transfer/jsonl.js';

export function importCommand() {
  return command('import', 'read JSONL (from dgent export) from stdin or a file into the log')
    .argument('[url]', 'backend URL of the target log')
    .option('-i, --input <file>', 'read this file instead of stdin')
    .option('--batch-size <n>', 'events per transaction (default 1000)', intOption('--batch-size', 1))
    .option('--new-times', 'for logs that cannot keep event times (Redis, EventStoreDB): append with the current time')
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const file = options.input as string | undefined;
      if (!file && process.stdin.isTTY) throw new CliError('import reads JSONL from stdin or --input <file>: pipe `dgent export <url>` into it', EXIT.USAGE);
      const input = file ? createReadStream(file) : process.stdin;
      const result = await withLog(chosenUrl(url, options), async (log) => {
        const bar = out.progress('events');
        try {
          return await importLog(log, readJsonl(input), {
            batchSize: options.batchSize as number | undefined,
            newTimes: options.newTimes === true,
            onProgress: (p) => bar.update(p.done, p.total),
          });
        } finally {
          bar.stop();
        }
      });
      if (out.json) return out.data(result);
      out.line(`imported ${result.written} events${result.read !== result.written ? ` (${result.read - result.written} already there)` : ''}`);
    });
}
