/**
 * `dgent ui [url] [--port n]`: the local, read-only web inspector. Binds 127.0.0.1 on a free port,
 * prints the address (with --json: `{"url": …}`), serves until Ctrl-C. Needs no network.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, requireExisting } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { intOption } from '../output.js';
import { resolveTarget } from '../../open/env.js';
import { openLogTarget } from '../../open/open-log.js';
import { startInspector, uiRoot } from '../ui/server.js';
import { storeViews } from '../ui/views.js';

export function uiCommand() {
  return command('ui', 'a local read-only web inspector (127.0.0.1, free port)')
    .argument('[url]', 'backend URL')
    .option('--port <n>', 'port to bind (default: a free one)', intOption('--port', 0))
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const target = resolveTarget(chosenUrl(url, options), 'log');
      requireExisting(target); // read-only: a typo must not create an empty database
      const root = uiRoot();
      if (!root) throw new CliError('the inspector is not built: run npm run build (it builds dist/ui)', EXIT.FAILURE);
      const log = await openLogTarget(target, { readOnly: true });
      await log.revision('dgent-ui-probe'); // connect now: an unreachable backend fails here, not in the page
      const views = storeViews(log);
      const inspector = await startInspector(log, target, root, (options.port as number | undefined) ?? 0, views.get);
      if (out.json) out.line(JSON.stringify({ url: inspector.url }));
      else out.line(`dgent inspector on ${out.c.bold(inspector.url)} (read-only; Ctrl-C to stop)`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await inspector.close();
      await views.close();
      await log.close();
    });
}
