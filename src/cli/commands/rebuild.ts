/**
 * `dgent rebuild <projection> [url]`: rebuild a Store view (kv, kv_versions, kv_audit, or all)
 * from position 0, blue-green (the live view serves until the rebuilt one switches in), with a
 * progress bar, rate and ETA on a terminal.
 */
import { command, outputOf } from '../command.js';
import { chosenUrl, withStore } from '../backend.js';
import { CliError, EXIT } from '../exit-codes.js';
import type { Store } from '../../store/store.js';
import type { RebuildProgress } from '../../projections/runner/types.js';
import type { StoreContext } from '../../store/context.js';

const VIEWS = ['kv', 'kv_versions', 'kv_audit'] as const;

export function rebuildCommand() {
  return command('rebuild', `rebuild a Store view from the log: ${VIEWS.join(', ')} or all`)
    .argument('<projection>', `${VIEWS.join(' | ')} | all`)
    .argument('[url]', 'backend URL')
    .action(async (projection: string, url: string | undefined, _o: unknown, cmd) => {
      const { options, out } = outputOf(cmd);
      const names = projection === 'all' ? [...VIEWS] : VIEWS.includes(projection as never) ? [projection] : undefined;
      if (!names) throw new CliError(`unknown projection ${JSON.stringify(projection)}: the Store's views are ${VIEWS.join(', ')} (or all)`, EXIT.NOT_FOUND);
      const done = await withStore(chosenUrl(url, options), async (store: Store) => {
        // The Store offers rebuildViews() (all three, no progress); the runner's rebuild reports
        // progress per view. Until the Store exposes it, the CLI reaches its runner.
        const ctx = store['ctx'] as StoreContext;
        await ctx.open();
        const results: { name: string; events: number }[] = [];
        for (const name of names) {
          const bar = out.progress(`events (${name})`);
          let last: RebuildProgress | undefined;
          try {
            await ctx.runner.rebuild(name, {
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
      });
      if (out.json) out.data(done);
    });
}
