/**
 * `dgent verify [url] [--views]`: check the log (see verifyLog) and, with --views, that the Store's
 * views equal a fresh fold of the log. Exit 0 when intact, 5 when a problem was found.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog } from '../backend.js';
import { EXIT } from '../exit-codes.js';
import { verifyLog, verifyViews } from '../../transfer/verify-log.js';

export function verifyCommand() {
  return command('verify', 'check the log: gapless revisions, positions, ids, checksums; --views: views equal a fresh fold')
    .argument('[url]', 'backend URL')
    .option('--views', "also compare the Store's views with a fresh fold of the log")
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const report = await withLog(
        chosenUrl(url, options),
        async (log) => {
          const bar = out.progress('events');
          try {
            const r = await verifyLog(log, { onProgress: (p) => bar.update(p.done, p.total) });
            if (options.views) r.problems.push(...(await verifyViews(log)));
            return { ...r, ok: r.problems.length === 0 };
          } finally {
            bar.stop();
          }
        },
        { readOnly: !options.views, existing: true },
      );
      if (!report.ok) process.exitCode = EXIT.CORRUPT;
      if (out.json) return out.data(report);
      for (const p of report.problems) out.line(`${out.c.red('✗')} ${out.c.bold(p.kind)} ${p.message}`);
      const summary = `${report.events} events in ${report.streams} streams`;
      out.line(report.ok ? `${out.c.green('✓')} intact: ${summary}` : `${out.c.red('✗')} ${report.problems.length} problem(s) in ${summary}`);
    });
}
