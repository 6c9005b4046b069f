/** `dgent streams [url] [--prefix p]`: every stream with its event count and first/last times. */
import { command, outputOf } from '../command.js';
import { chosenUrl, withLog } from '../backend.js';
import { scanStreams } from '../scan.js';

export function streamsCommand() {
  return command('streams', 'list the streams with their event counts and last times')
    .argument('[url]', 'backend URL')
    .option('--prefix <prefix>', 'only streams whose name starts with this')
    .action(async (url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const prefix = options.prefix as string | undefined;
      const streams = await withLog(chosenUrl(url, options), (log) => scanStreams(log, prefix), { readOnly: true });
      if (out.json) {
        out.data(streams.map((s) => ({ stream: s.stream, events: s.events, revision: s.revision, firstTime: s.firstTime.toISOString(), lastTime: s.lastTime.toISOString(), lastType: s.lastType })));
        return;
      }
      if (streams.length === 0) {
        out.note(prefix === undefined ? 'no streams' : `no streams start with ${JSON.stringify(prefix)}`);
        return;
      }
      out.table(
        ['STREAM', 'EVENTS', 'REVISION', 'LAST EVENT', 'LAST TYPE'],
        streams.map((s) => [out.c.cyan(s.stream), String(s.events), String(s.revision), s.lastTime.toISOString(), s.lastType]),
      );
    });
}
