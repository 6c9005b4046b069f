/**
 * `dgent rebuild <projection> [url]`: rebuild a Store view (kv, kv_versions, kv_audit, or all)
 * from position 0, blue-green (the live view serves until the rebuilt one switches in), with a
 * progress bar, rate and ETA on a terminal. Goes through the public `Store.rebuildViews`.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, withStore } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import { STORE_VIEWS, type Store, type StoreViewName } from '../../store/store.js';
import type { RebuildProgress } from '../../projections/runner/types.js';

export function rebuildCommand() {
  return command('rebuild', `rebuild a Store view from the log: ${STORE_VIEWS.join(', ')} or all`)
    .argument('<projection>', `${STORE_VIEWS.join(' | ')} | all`)
    .argument('[url]', 'backend URL')
    .action(async (projection: string, url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const names: readonly StoreViewName[] | undefined = projection === 'all' ? STORE_VIEWS : STORE_VIEWS.includes(projection as never) ? [projection as StoreViewName] : undefined;
      if (!names) throw new CliError(`unknown projection ${JSON.stringify(projection)}: the Store's views are ${STORE_VIEWS.join(', ')} (or all)`, EXIT.NOT_FOUND);
      const done = await withStore(chosenUrl(url, options), async (store: Store) => {
        const results: { name: string; events: number }[] = [];
        for (const name of names) {
          const bar = out.progress(`events (${name})`);
          let last: RebuildProgress | undefined;
          try {
            await store.rebuildViews({
              only: [name],
              progressEveryMs: 200,
              onProgress: (p) => {
                last = p;
                bar.update(p.processed, p.total);
              },
            });
          } finally {
            bar.stop();
          }
          results.push({ name, events: last?.processed ?? 0 });
          out.note(`rebuilt ${name}: ${last?.processed ?? 0} events`);
        }
        return results;
      }, { existing: false });
      if (out.json) out.data(done);
    });
}
