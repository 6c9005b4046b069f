/**
 * `dgent verify [url] [--views]`: check the log (see verifyLog) and, with --views, that the Store's
 * views equal a fresh fold of the log. Exit 0 when intact, 5 when a problem was found.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog } from '../backend.js';
import { EXIT } from '../exit-codes.js';
import { plural } from '../output.js';
import { verifyLog, verifyViewsReport, type ViewsCompared } from '../../transfer/verify-log.js';

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
            let views: ViewsCompared | undefined;
            if (options.views) {
              const v = await verifyViewsReport(log);
              r.problems.push(...v.problems);
              views = v.compared;
            }
            return { ...r, ok: r.problems.length === 0, ...(views ? { views } : {}) };
          } finally {
            bar.stop();
          }
        },
        { readOnly: !options.views, existing: true },
      );
      if (!report.ok) process.exitCode = EXIT.CORRUPT;
      if (out.json) return out.data(report);
      for (const p of report.problems) out.line(`${out.c.red('✗')} ${out.c.bold(p.kind)} ${p.message}`);
      const summary = `${plural(report.events, 'event')} in ${plural(report.streams, 'stream')}`;
      out.line(report.ok ? `${out.c.green('✓')} intact: ${summary}` : `${out.c.red('✗')} ${report.problems.length} problem(s) in ${summary}`);
      const v = report.views;
      if (v) {
        const bad = report.problems.filter((p) => p.kind === 'view').length;
        const rows = `${plural(v.keys, 'live key')}, ${plural(v.versions, 'version')}, ${plural(v.audit, 'audit row')}, ${plural(v.namespaces, 'namespace')}`;
        if (bad > 0) out.line(`  views: ${plural(bad, 'difference')} from a fresh fold of the log (${rows})`);
        else if (v.events === 0) out.line(`  views: nothing to compare (the log holds no keyed events, which the Store's views fold)`);
        else out.line(`  views equal a fresh fold of the log's ${plural(v.events, 'keyed event')}: ${rows}`);
      }
    });
}
